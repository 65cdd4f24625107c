"""``altsa evaluate MODEL --data MELD_FOLDER --split test``: MELD's official file names need no
config entry, so a model trained on train/dev (the bundled ones) scores the held-out test split
from the folder users download."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from altsa.cli.main import main

DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "meld" / "dev_sent_emo.csv"


def test_bundled_model_scores_a_meld_folders_test_split(tmp_path, monkeypatch, capsys):
    if not DEV.is_file():
        pytest.skip(f"MELD dev CSV not found at {DEV}")
    with open(DEV, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    keep = [r for r in rows[1:] if int(r[5]) < 6]  # dialogues 0-5 stand in for a test file
    folder = tmp_path / "MELD"
    folder.mkdir()
    with open(folder / "test_sent_emo.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([rows[0], *keep])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALTSA_CACHE_DIR", str(tmp_path / "user-cache"))
    rc = main(["evaluate", "meld-text-minilm", "--data", str(folder), "--split", "test", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    report = json.loads(out)
    assert report["n"] == len(keep) and report["data"].endswith("test_sent_emo.csv")
    assert "meld-test" in err  # read as MELD's test split (its clips folder would be output_repeated_splits_test)

    # a split MELD does not have is still an error naming the run's splits
    rc = main(["evaluate", "meld-text-minilm", "--data", str(folder), "--split", "holdout"])
    assert rc == 2 and "data.splits has train, dev" in capsys.readouterr().err
