"""Report files: JSON, Markdown tables, the confusion PNG, and the no-matplotlib fallback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from altsa.evaluation.metrics import compute_metrics
from altsa.evaluation.report import format_table, write_report

METRICS = compute_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["anger", "joy", "neutral"])


def test_format_table() -> None:
    table = format_table(["label", "F1", "n"], [["a|b", 50.0, 3], ["c", 66.6666, 10]])
    assert table == (
        "| label | F1 | n |\n"
        "| :--- | ---: | ---: |\n"
        "| a\\|b | 50.00 | 3 |\n"
        "| c | 66.67 | 10 |\n"
    )
    with pytest.raises(ValueError):
        format_table(["a", "b"], [[1]])


def test_write_report(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the confusion PNG needs the `plot` extra (pip install -e '.[plot]')")
    written = write_report(tmp_path / "eval", METRICS, title="MELD dev", extra={"run": "r1", "seed": 3})
    assert set(written) == {"metrics.json", "confusion.json", "confusion.png", "report.md"}
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["title"] == "MELD dev" and saved["extra"] == {"run": "r1", "seed": 3}
    assert saved["weighted_f1"] == pytest.approx(METRICS.weighted_f1)
    conf = json.loads((tmp_path / "eval" / "confusion.json").read_text())
    assert conf["labels"] == ["anger", "joy", "neutral"] and conf["matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    png = (tmp_path / "eval" / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    md = (tmp_path / "eval" / "report.md").read_text()
    # weighted F1 = (3*0.8 + 2*0.5 + 1*2/3) / 6 = 67.78; macro = 65.56; accuracy 66.67;
    # UAR = (2/3 + 1/2 + 1) / 3 = 72.22
    assert "| weighted F1 | macro F1 | accuracy | UAR | utterances |" in md
    assert "| 67.78 | 65.56 | 66.67 | 72.22 | 6 |" in md
    # precision, recall, F1, support: anger 2/2, 2/3; neutral 1/2, 1/1
    assert "| anger | 100.00 | 66.67 | 80.00 | 3 |" in md and "| neutral | 50.00 | 100.00 | 66.67 | 1 |" in md
    assert "| joy | 0 | 1 | 1 |" in md
    assert "![confusion matrix](confusion.png)" in md and "- **seed**: 3" in md
    assert not [p for p in (tmp_path / "eval").iterdir() if p.name.startswith(".")]  # no temp files left


def test_display_labels(tmp_path: Path) -> None:
    write_report(tmp_path, METRICS, title="t", labels=["Anger", "Joy", "Neutral"])
    assert "| Anger | 100.00 | 66.67 | 80.00 | 3 |" in (tmp_path / "report.md").read_text()
    with pytest.raises(ValueError, match="2 display labels for 3 classes"):
        write_report(tmp_path, METRICS, title="t", labels=["x", "y"])


def test_micro_f1_and_an_older_report(tmp_path: Path) -> None:
    from altsa.evaluation.metrics import Metrics, compute_metrics

    m = compute_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["anger", "joy", "neutral"], ["neutral"])
    write_report(tmp_path, m, title="t")
    md = (tmp_path / "report.md").read_text()
    # without neutral: TP 3 (rows 0, 1, 3); predicted anger or joy: 4; true anger or joy: 5 -> 6/9
    assert "| micro F1 without neutral | utterances |" in md and "| 66.67 | 6 |" in md
    old = Metrics.from_dict({k: v for k, v in m.to_dict().items() if k in {
        "labels", "weighted_f1", "macro_f1", "accuracy", "per_class_f1", "confusion", "n"}})
    write_report(tmp_path / "old", old, title="t")  # read back from a report older than UAR
    md = (tmp_path / "old" / "report.md").read_text()
    assert "| weighted F1 | macro F1 | accuracy | utterances |" in md and "| anger | 80.00 | 3 |" in md


def test_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "confusion.png").write_bytes(b"old picture")
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)  # import now raises ImportError
    written = write_report(tmp_path, METRICS, title="t")
    assert "confusion.png" not in written and not (tmp_path / "confusion.png").exists()
    md = (tmp_path / "report.md").read_text()
    assert "confusion.png skipped: matplotlib is not installed" in md
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "confusion.json").is_file()
