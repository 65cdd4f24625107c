"""``altsa predict`` and ``altsa demo``: output formats, stdin, one-line errors naming the line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from altsa.cli.main import main
from altsa.cli.predict import example_path

CONV = {
    "dialogue_id": "d1",
    "utterances": [
        {"speaker": "Ann", "text": "We won the match!"},
        {"speaker": "Bob", "text": "No way, are you serious?"},
        {"speaker": "Ann", "text": "Totally serious."},
    ],
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from altsa.inference.tiny import save_tiny_run

    return save_tiny_run(tmp_path_factory.mktemp("cli") / "tiny-run")


def write(tmp_path: Path, lines: list[str], name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(argv, capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lines(run_dir, tmp_path, capsys):
    second = {**CONV, "dialogue_id": "d2", "utterances": CONV["utterances"][:2]}
    path = write(tmp_path, [json.dumps(CONV), json.dumps(second)])
    code, out, err = run_cli(["predict", str(run_dir), str(path), "--json"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["dialogue_id"], r["position"], r["speaker"]) for r in rows] == [
        ("d1", 0, "Ann"), ("d1", 1, "Bob"), ("d1", 2, "Ann"), ("d2", 0, "Ann"), ("d2", 1, "Bob")]
    for r in rows:
        assert {"text", "label", "confidence", "probabilities", "weights", "absent"} <= set(r)
        assert r["label"] in r["probabilities"] and len(r["probabilities"]) == 7
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-4
        assert r["weights"]["text"] == pytest.approx(1.0)
        assert r["absent"] == {"audio": "not_provided", "video": "not_provided"}


def test_table(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    path = write(tmp_path, [json.dumps(CONV)])
    code, out, err = run_cli(["predict", str(run_dir), str(path), "--table"], capsys)
    assert code == 0, err
    for u in CONV["utterances"]:
        assert u["text"] in out
    assert "emotion" in out and "conf" in out and "weights" in out
    code2, out2, _ = run_cli(["predict", str(run_dir), str(path)], capsys)  # the default
    assert code2 == 0 and out2 == out


def test_stdin(run_dir, capsys, monkeypatch):
    code, out, err = run_cli(["predict", str(run_dir), "-", "--json"], capsys, json.dumps(CONV) + "\n", monkeypatch)
    assert code == 0, err
    assert len(out.splitlines()) == 3


def test_media_paths_are_read_and_reported(run_dir, tmp_path, capsys):
    import wave

    clip = tmp_path / "clip.wav"
    with wave.open(str(clip), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x10\x20" * 16000)
    conv = {"dialogue_id": "m", "utterances": [{"speaker": "A", "text": "listen", "audio": "clip.wav"},
                                               {"speaker": "B", "text": "what?"}]}
    path = write(tmp_path, [json.dumps(conv)])
    code, out, err = run_cli(["predict", str(run_dir), str(path), "--json"], capsys)
    assert code == 0, err
    first, second = (json.loads(x) for x in out.splitlines())
    assert first["absent"]["audio"] == "model_has_no_audio"  # a text-only model says it ignored it
    assert second["absent"]["audio"] == "not_provided"


def test_corpus_csv_input(run_dir, tmp_path, capsys):
    csv = tmp_path / "c.csv"
    csv.write_text("dialogue_id,speaker,text\n7,Ann,hello there\n7,Bob,hi!\n", encoding="utf-8")
    code, out, err = run_cli(["predict", str(run_dir), str(csv), "--format", "csv", "--json"], capsys)
    assert code == 0, err
    assert [json.loads(x)["text"] for x in out.splitlines()] == ["hello there", "hi!"]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"dialogue_id": "b", "utterances": [{"speaker": "A", "text": ', "invalid JSON"),
        ('{"dialogue_id": "b", "utterances": [{"speaker": "A", "text": ""}]}', "empty text"),
        ('{"dialogue_id": "b", "utterances": [{"speaker": "A", "text": 5}]}', "'text'"),
        ('{"dialogue_id": "b", "utterances": [{"speaker": {"x": 1}, "text": "hi"}]}', "'speaker' must be a string"),
        ('{"dialogue_id": "b", "utterances": [{"speaker": "A", "text": "hi", "audio": 7}]}', "'audio'"),
        ('{"dialogue_id": "b", "utterances": [{"speaker": "A", "text": "hi", "position": "x"}]}', "'position'"),
    ],
)
def test_bad_line_is_one_line_error_naming_it(run_dir, tmp_path, capsys, bad_line, message):
    path = write(tmp_path, [json.dumps(CONV), bad_line])
    code, out, err = run_cli(["predict", str(run_dir), str(path), "--json"], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}:2: ") and message in err


def test_bad_stdin_names_stdin(run_dir, capsys, monkeypatch):
    code, _, err = run_cli(["predict", str(run_dir), "-"], capsys, "not json\n", monkeypatch)
    assert code == 2 and err.startswith("error: <stdin>:1: invalid JSON")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "no-such-model", "{example}"], "no run directory or bundled model named 'no-such-model'"),
        (["predict", "{run}", "/no/such/file.jsonl"], "input file not found"),
    ],
)
def test_bad_arguments(run_dir, capsys, argv, message):
    argv = [a.format(run=run_dir, example=example_path()) for a in argv]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_example_conversation_is_shipped():
    from altsa.data.readers import read_corpus

    corpus = read_corpus(example_path(), strict=True)
    (conv,) = corpus.conversations
    assert 8 <= len(conv) <= 12 and len(conv.speakers) == 3


def test_demo_timeline(run_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    code, out, err = run_cli(["demo", "--model", str(run_dir)], capsys)
    assert code == 0, err
    assert "Maya" in out and "Priya" in out and "█" in out
    last = out.strip().splitlines()[-1]
    assert "12 utterances in" in last and "ms each" in last
