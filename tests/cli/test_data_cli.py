"""``altsa data list`` and ``altsa data inspect``, through ``main()`` and the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from altsa.cli.main import main

REPO = Path(__file__).resolve().parents[2]
MELD_DEV = REPO / ".." / "shared" / "data" / "meld" / "dev_sent_emo.csv"
MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
ROWS = (
    '1,"Hi.",Ann,joy,positive,0,0,1,1,a,b\n'
    '2,"What?",Bob,grumpy,negative,0,1,1,1,a,b\n'
    '3,"Bye.",Ann,sadness,negative,0,2,1,1,a,b\n'
)
EMORY = (
    "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    "Morning!,['Ann Lee'],Joyful,1,1,1,1,a,b\n"
    "Go away.,['Bo Park'],Mad,1,2,1,1,a,b\n"
)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def meld_dev() -> Path:
    if not MELD_DEV.is_file():
        pytest.skip(f"shared MELD data not found at {MELD_DEV}")
    return MELD_DEV


def test_list(capsys) -> None:
    rc, out, _ = _run(capsys, "data", "list")
    assert rc == 0
    for name in ("meld", "csv", "emorynlp", "emorynlp-json", "iemocap", "dailydialog", "jsonl", "clips"):
        assert name in out
    rc, out, _ = _run(capsys, "data", "list", "--json")
    listed = json.loads(out)
    assert set(listed["formats"]) == {"clips", "csv", "dailydialog", "emorynlp", "emorynlp-json", "iemocap", "jsonl", "meld"}
    assert "emorynlp" in listed["mappings"]


def test_inspect_meld_dev_json(capsys, meld_dev: Path) -> None:
    rc, out, err = _run(capsys, "data", "inspect", str(meld_dev), "--json")
    assert rc == 0 and err == ""
    summary = json.loads(out)  # exactly one JSON object
    assert summary["dialogues"] == 114 and summary["utterances"] == 1109
    assert summary["labels"]["neutral"] == 470 and sum(summary["labels"].values()) == 1109
    assert summary["problems"] == [] and summary["missing_media"] == []
    assert summary["speakers"] == 47 and summary["repaired_rows"] == 62
    assert summary["label_sets"]["sentiment"] == ["negative", "neutral", "positive"]


def test_inspect_pretty(capsys, meld_dev: Path) -> None:
    rc, out, _ = _run(capsys, "data", "inspect", str(meld_dev))
    assert rc == 0
    assert "1,109" in out and "emotion (7 labels)" in out and "surprise" in out


def test_inspect_reports_problems_and_missing_clips(capsys, tmp_path: Path) -> None:
    path = tmp_path / "dev_sent_emo.csv"
    path.write_text(MELD_HEADER + ROWS, encoding="utf-8")
    (tmp_path / "clips" / "dev_splits_complete").mkdir(parents=True)
    (tmp_path / "clips" / "dev_splits_complete" / "dia0_utt0.mp4").write_bytes(b"")
    rc, out, _ = _run(capsys, "data", "inspect", str(path), "--clips", str(tmp_path / "clips"), "--json")
    assert rc == 0
    summary = json.loads(out)
    assert summary["utterances"] == 2
    assert summary["missing_media"] == ["0/2"]
    assert len(summary["problems"]) == 1 and summary["problems"][0].startswith(f"{path}:3: unknown label 'grumpy'")
    rc, out, _ = _run(capsys, "data", "inspect", str(path), "--clips", str(tmp_path / "clips"))
    assert rc == 0 and "problems (1)" in out and "0/2" in out


def test_inspect_strict_error_is_one_line_exit_2(capsys, tmp_path: Path) -> None:
    path = tmp_path / "dev_sent_emo.csv"
    path.write_text(MELD_HEADER + ROWS, encoding="utf-8")
    rc, out, err = _run(capsys, "data", "inspect", str(path), "--strict", "--json")
    assert rc == 2 and out == ""
    assert err.startswith(f"error: {path}:3: unknown label 'grumpy' for meld-emotion")
    assert err.count("\n") == 1


def test_inspect_mapping_options(capsys, tmp_path: Path) -> None:
    emory = tmp_path / "emory.csv"
    emory.write_text(EMORY, encoding="utf-8")
    for args in (["--format", "emorynlp"], ["--mapping", "emorynlp"], []):
        rc, out, _ = _run(capsys, "data", "inspect", str(emory), *args, "--json")
        assert rc == 0
        summary = json.loads(out)
        assert summary["labels"]["joyful"] == 1 and summary["labels"]["scared"] == 0
        assert summary["top_speakers"] == {"Ann Lee": 1, "Bo Park": 1}

    mine = tmp_path / "mine.csv"
    mine.write_text("conv,turn,who,said,feel\nx,2,Ann,Hello,up\nx,1,Bob,Hm,down\n", encoding="utf-8")
    base = ["data", "inspect", str(mine), "--dialogue-col", "conv", "--order-col", "turn",
            "--speaker-col", "who", "--text-col", "said", "--label-col", "feel"]
    rc, out, _ = _run(capsys, *base, "--labels", "up,down", "--json")
    assert rc == 0
    summary = json.loads(out)
    assert summary["label_sets"] == {"emotion": ["up", "down"]} and summary["labels"] == {"up": 1, "down": 1}
    rc, _, err = _run(capsys, *base, "--labels", "up,sideways", "--strict")
    assert rc == 2 and err.startswith(f"error: {mine}:3: unknown label 'down'")
    rc, _, err = _run(capsys, *base, "--text-col", "nope", "--json")
    assert rc == 2 and err.startswith(f"error: {mine}:1: missing required column 'nope' (text)")
    rc, _, err = _run(capsys, *base[:3], "--format", "csv")
    assert rc == 2 and "missing required columns 'dialogue_id' (dialogue; " in err and "'text' (text; " in err
    rc, _, err = _run(capsys, *base[:3], "--mapping", "nope")
    assert rc == 2 and "unknown mapping 'nope'" in err


def test_inspect_missing_file(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "data", "inspect", str(tmp_path / "nope.csv"))
    assert rc == 2 and err == f"error: {tmp_path / 'nope.csv'}: file not found\n"


def test_installed_script_prints_no_traceback(tmp_path: Path, altsa_script: str) -> None:
    bad = tmp_path / "dev.csv"
    bad.write_bytes(MELD_HEADER.encode() + '1,"Caf\xe9",Ann,joy,positive,0,0,1,1,a,b\n'.encode("cp1252"))
    proc = subprocess.run([altsa_script, "data", "inspect", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {bad}:2: not UTF-8 (byte 0xe9 at offset {len(MELD_HEADER) + 6}); re-save the file as UTF-8\n"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_installed_script_done_when(meld_dev: Path, altsa_script: str) -> None:
    """The issue's check, run from the repository root with the relative path."""
    proc = subprocess.run(
        [altsa_script, "data", "inspect", "../shared/data/meld/dev_sent_emo.csv", "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["dialogues"], summary["utterances"]) == (114, 1109)
