"""``altsa predict`` options the model overrides or needs: ``--labels`` other than the model's
own set is an error (it was silently ignored), ``--split`` names the split of a MELD file whose
name does not (its clip folder); ``altsa transcribe -o`` never replaces the recording."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from altsa.cli.main import main

DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "meld" / "dev_sent_emo.csv"


def test_labels_other_than_the_models_are_refused(tmp_path, capsys):
    data = tmp_path / "m.jsonl"
    data.write_text(json.dumps({"dialogue_id": "d", "utterances": [{"text": "hi", "emotion": "joy"}]}) + "\n")
    assert main(["predict", "meld-text-minilm", str(data), "--labels", "joy,anger", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--labels joy,anger: the model answers in its own labels (anger, disgust" in err
    assert main(["predict", "meld-text-minilm", str(data), "--labels", "meld-emotion", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "hi"


def test_split_names_a_meld_file_whose_name_does_not(tmp_path, capsys):
    if not DEV.is_file():
        pytest.skip(f"MELD dev CSV not found at {DEV}")
    data = tmp_path / "sample.csv"
    data.write_text("\n".join(DEV.read_text(encoding="utf-8").splitlines()[:4]) + "\n", encoding="utf-8")
    clips = tmp_path / "MELD.Raw"
    (clips / "dev_splits_complete").mkdir(parents=True)
    argv = ["predict", "meld-text-minilm", str(data), "--clips", str(clips), "--json"]
    assert main(argv) == 2
    assert "cannot tell the MELD split from the file name; pass split= (--split" in capsys.readouterr().err
    assert main([*argv, "--split", "dev"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and rows[0]["speaker"] == "Phoebe"


def test_transcribe_refuses_to_write_over_its_recording(tmp_path, capsys):
    rec = tmp_path / "self.wav"
    rec.write_bytes(b"RIFF" + bytes(100))
    before = rec.read_bytes()
    assert main(["transcribe", str(rec), "-o", str(tmp_path / "." / "self.wav")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage:") and "istherecordingitself" in re.sub(r"[\s│]", "", err)  # the box wraps lines
    assert rec.read_bytes() == before


def test_several_inputs_name_their_source(tmp_path, capsys):
    """The same conversation in two files gave lines with the same key and nothing to tell
    them apart; with several inputs each JSON line starts with its source."""
    conv = json.dumps({"dialogue_id": "d", "utterances": [{"text": "hi"}, {"text": "I am so happy!"}]}) + "\n"
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(conv)
    b.write_text(conv)
    assert main(["predict", "meld-text-minilm", str(a), str(b), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["key"]) for r in rows] == [(str(a), "d/0"), (str(a), "d/1"), (str(b), "d/0"), (str(b), "d/1")]
    assert main(["predict", "meld-text-minilm", str(a), "--json"]) == 0
    assert all("source" not in json.loads(line) for line in capsys.readouterr().out.splitlines())
