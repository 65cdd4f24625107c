"""``altsa evaluate`` says what its figures leave out or rest on: utterances read but not
scored (no label), utterances scored with nothing the model reads, ``--labels`` that the
model's own label set overrides, and a MELD file named without its split (``--split``)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from altsa.cli.main import main

DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "meld" / "dev_sent_emo.csv"


@pytest.fixture(autouse=True)
def _user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALTSA_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.chdir(tmp_path)


def test_unlabelled_utterances_are_counted_not_scored(tmp_path, capsys):
    data = tmp_path / "m.jsonl"
    data.write_text(json.dumps({"dialogue_id": "d", "utterances": [
        {"speaker": "A", "text": "Oh wow, that is wonderful!", "emotion": "joy"},
        {"speaker": "B", "text": "I hate you"}, {"speaker": "A", "text": "Okay.", "emotion": "neutral"}]}) + "\n")
    assert main(["evaluate", "meld-text-minilm", "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and report["unlabelled"] == 1 and report["no_input"] == 0
    assert main(["evaluate", "meld-text-minilm", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "note: 1 utterance(s) carry no label of the task: read as context, not scored" in out
    assert not (tmp_path / ".altsa-cache").exists()  # a bundled model's features go to the user cache
    assert (tmp_path / "user-cache" / "features").is_dir()


def test_labels_other_than_the_models_are_refused(tmp_path, capsys):
    data = tmp_path / "m.jsonl"
    data.write_text(json.dumps({"dialogue_id": "d", "utterances": [{"text": "hi", "emotion": "joy"}]}) + "\n")
    assert main(["evaluate", "meld-text-minilm", "--data", str(data), "--labels", "joy"]) == 2
    assert "--labels joy: the model answers in its own labels (anger, disgust" in capsys.readouterr().err
    assert main(["evaluate", "meld-text-minilm", "--data", str(data), "--labels", "meld-emotion", "--json"]) == 0


def test_utterances_with_nothing_to_read_are_scored_and_said(tmp_path, capsys):
    """An audio-only run scoring clips some of which cannot be read: they are scored (the
    figures cover every labelled row) and the report says how many and why."""
    from altsa.inference.tiny import save_tiny_run

    run = save_tiny_run(tmp_path / "run", modalities=("audio",))
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        with wave.open(str(clips / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((rng.normal(0, 3000, 16000)).astype("<i2").tobytes())
    (clips / "bad.wav").write_bytes(b"not a wave file at all")
    table = tmp_path / "clips.csv"
    table.write_text("file,emotion\nclips/a.wav,joy\nclips/b.wav,anger\nclips/bad.wav,joy\nclips/gone.wav,anger\n")
    argv = ["evaluate", str(run), "--data", str(table), "--format", "csv", "--dialogue-col", "file",
            "--text-col", "none", "--label-col", "emotion", "--audio-col", "file"]
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["no_input"] == 2
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "note: 2 of 4 scored utterance(s) had nothing the model reads (audio: " in out
    assert "missing_file 1" in out and "unreadable 1" in out


def test_split_names_a_meld_file_whose_name_does_not(tmp_path, capsys):
    if not DEV.is_file():
        pytest.skip(f"MELD dev CSV not found at {DEV}")
    lines = DEV.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "sample.csv"
    data.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    clips = tmp_path / "MELD.Raw"
    (clips / "dev_splits_complete").mkdir(parents=True)
    argv = ["evaluate", "meld-text-minilm", "--data", str(data), "--clips", str(clips), "--json"]
    assert main(argv) == 2
    assert "cannot tell the MELD split from the file name" in capsys.readouterr().err
    assert main([*argv, "--split", "dev"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["n"] == 5


def test_an_iemocap_session_folder_is_a_corpus_not_a_folder_of_split_files(tmp_path):
    """``--data Session5`` read the folder as holding the run's split files (dev_sent_emo.csv
    not found); a session folder is one corpus by itself, a release folder holds the splits."""
    from altsa.evaluation.evaluate import corpus_path, is_corpus_folder

    session = tmp_path / "IEMOCAP_full_release" / "Session5"
    (session / "dialog" / "EmoEvaluation").mkdir(parents=True)
    assert is_corpus_folder(session) and not is_corpus_folder(session.parent)
    assert corpus_path(session, None, None) == (session, None)


def test_a_corpus_in_another_label_set_says_so(tmp_path, capsys):
    """Scoring the MELD model on EmoryNLP stopped at the skip limit with the advice to accept
    the skips, which would score the one row whose label both sets share."""
    data = tmp_path / "emory.jsonl"
    data.write_text(json.dumps({"dialogue_id": "d", "utterances": [
        {"text": "hi", "emotion": "Joyful"}, {"text": "go away", "emotion": "Mad"}, {"text": "ok", "emotion": "Neutral"}]})
        + "\n")
    assert main(["evaluate", "meld-text-minilm", "--data", str(data), "--labels", "meld-emotion"]) == 2
    err = capsys.readouterr().err
    assert "unknown_label 2" in err and "this model answers in meld-emotion: anger, disgust" in err
