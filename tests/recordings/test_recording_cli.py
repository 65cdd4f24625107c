"""``altsa transcribe`` and ``altsa predict MODEL RECORDING``: pure JSON on stdout, notices on
stderr, one-line errors with exit 2 for bad files, exit 0 with a notice for no speech."""

from __future__ import annotations

import json
import struct
import subprocess

import numpy as np
import pytest
from recording_helpers import LINES, need_recordings_extra, tone, video_file

from altsa.cli.main import main
from altsa.data.schema import MELD_EMOTION
from altsa.recordings.synthetic import write

pytestmark = pytest.mark.slow


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_transcribe_json_and_output_file(conversation, tmp_path, capsys):
    need_recordings_extra()
    path = conversation[0]
    out_file = tmp_path / "talk.jsonl"
    code, out, err = run(["transcribe", str(path), "--json", "--threads", "1", "-o", str(out_file)], capsys)
    assert code == 0, err
    (line,) = out.splitlines()  # one conversation, one JSONL line
    obj = json.loads(line)
    assert obj["dialogue_id"] == "talk" and len(obj["utterances"]) == len(LINES)
    for u in obj["utterances"]:
        assert set(u) == {"position", "speaker", "text", "media", "start", "end"} and u["text"]
        assert u["media"] == str(path.resolve()) and 0 <= u["start"] < u["end"]
    assert out_file.read_text(encoding="utf-8") == out
    assert "real-time factor" in err and "wrote" in err
    # the file is a corpus the readers take as it is (and that a person can edit)
    from altsa.data.readers import read_corpus

    corpus = read_corpus(out_file, strict=True)
    assert [u.text for u in corpus.conversations[0]] == [u["text"] for u in obj["utterances"]]


def test_predict_bundled_model_on_a_recording(conversation, capsys):
    """The issue's check: one JSON line per detected utterance with text, start, end,
    speaker and emotion."""
    need_recordings_extra()
    code, out, err = run(["predict", "meld-text-minilm", str(conversation[0]), "--json", "--threads", "1"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(LINES)
    truth = conversation[2]
    for row, line in zip(rows, truth):
        assert {"text", "start", "end", "speaker", "label", "confidence"} <= set(row)
        assert row["label"] in MELD_EMOTION.labels and 0 < row["confidence"] <= 1
        assert abs(row["start"] - line.start) < 0.3 and abs(row["end"] - line.end) < 0.3
    assert [r["speaker"] for r in rows] == ["Speaker 1", "Speaker 2"] * 3


def test_demo_reads_a_recording_as_predict_does(conversation, capsys):
    """``altsa demo --input talk.wav`` transcribes it like ``altsa predict`` (it read the file
    as one clip the text model could do nothing with)."""
    need_recordings_extra()
    code, out, err = run(["demo", "--input", str(conversation[0]), "--json"], capsys)
    assert code == 0, err
    code2, out2, err2 = run(["predict", "meld-text-minilm", str(conversation[0]), "--json"], capsys)
    assert code2 == 0, err2
    assert out == out2 and len(out.splitlines()) == len(LINES)


def test_predict_timeline_table(conversation, capsys, monkeypatch):
    need_recordings_extra()
    monkeypatch.setenv("COLUMNS", "160")
    code, out, err = run(["predict", "meld-text-minilm", str(conversation[0]), "--speakers", "2"], capsys)
    assert code == 0, err
    assert "time" in out and "emotion" in out and "confidence" in out
    assert "0:00." in out and out.count("Speaker 1") == 3 and out.count("Speaker 2") == 3


@pytest.mark.parametrize("kind", ["silence", "music"])
def test_no_speech_exits_0_with_a_notice(tmp_path, capsys, kind):
    need_recordings_extra()
    wave = np.zeros(3 * 16000, np.float32) if kind == "silence" else tone(4.0, 330.0) * np.float32(0.5)
    path = write(tmp_path / f"{kind}.mp3", wave, rate=44100, fmt="mp3", codec="libmp3lame", channels=2)
    code, out, err = run(["transcribe", str(path), "--json"], capsys)
    assert (code, out) == (0, "")
    assert f"notice: no speech found in {kind}.mp3" in err
    code, out, err = run(["predict", "meld-text-minilm", str(path), "--json"], capsys)
    assert (code, out) == (0, "")
    assert "notice: no speech found" in err and "0 utterances" in err


def _bad_files(tmp_path):
    good = write(tmp_path / "good.wav", tone(3.0))
    data = good.read_bytes()
    (tmp_path / "text.mp3").write_text("not audio at all\n" * 40)
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    odd = bytearray(data)
    fmt = odd.find(b"fmt ")
    odd[fmt + 8 : fmt + 10] = struct.pack("<H", 0x1234)
    (tmp_path / "odd.wav").write_bytes(bytes(odd))
    video_file(tmp_path / "mute.mp4", 1.0, audio=None)
    return {
        "text.mp3": "not a readable audio or video file",
        "cut.wav": "truncated",
        "odd.wav": "unsupported audio codec",
        "mute.mp4": "has no audio stream",
        "missing.wav": "recording not found",
    }


def test_bad_files_are_one_line_errors_with_exit_2(tmp_path, capsys):
    need_recordings_extra()
    for name, message in _bad_files(tmp_path).items():
        for argv in (["transcribe", str(tmp_path / name)], ["predict", "meld-text-minilm", str(tmp_path / name), "--json"]):
            code, out, err = run(argv, capsys)
            assert code == 2 and out == "", (name, err)
            assert err.startswith("error: ") and message in err and err.count("\n") == 1, (name, err)
    code, out, err = run(["transcribe", str(tmp_path / "good.wav"), "--max-minutes", "0.01"], capsys)
    assert code == 2 and "longer than --max-minutes 0.01" in err


def test_usage_mistake_and_the_installed_script(tmp_path, altsa_script):
    need_recordings_extra()
    proc = subprocess.run([altsa_script, "transcribe", "x.wav", "--speakers", "0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Usage:" in proc.stderr
    (tmp_path / "text.wav").write_text("not audio\n" * 40)
    proc = subprocess.run([altsa_script, "transcribe", str(tmp_path / "text.wav"), "--json"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_media_as_recording_or_clip(conversation, tmp_path, capsys, tiny_roberta, tiny_data2vec):
    """A model that reads no text labels a media file as one clip by default (altsa predict's
    clips), and transcribes it with --media-as recording; mixing a recording with a corpus
    file is a usage error."""
    need_recordings_extra()
    from altsa.inference.tiny import save_tiny_run

    run_dir = save_tiny_run(tmp_path / "audio-run", {"text": tiny_roberta, "audio": tiny_data2vec}, modalities=("audio",))
    path = str(conversation[0])
    code, out, err = run(["predict", str(run_dir), path, "--json"], capsys)
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["dialogue_id"] == "talk.wav" and row["text"] == "" and "start" not in row
    code, out, err = run(["predict", str(run_dir), path, "--json", "--media-as", "recording", "--threads", "1"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(LINES) and all(r["text"] and r["end"] > r["start"] for r in rows)
    assert all(r["absent"] == {"text": "model_has_no_text", "video": "not_provided"} for r in rows)
    (tmp_path / "c.jsonl").write_text('{"utterances": [{"speaker": "A", "text": "hi"}]}\n')
    code, out, err = run(["predict", str(run_dir), path, str(tmp_path / "c.jsonl"), "--media-as", "recording"], capsys)
    assert code == 2 and "every INPUT must be a media file" in err
    code, out, err = run(["predict", str(run_dir), path, "--media-as", "tape"], capsys)
    assert code == 2 and "--media-as" in err
