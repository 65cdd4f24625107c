"""An evaluation report on disk: metrics.json, confusion.json, confusion.png, report.md.

Every file is written atomically (``altsa.io``), so an interrupted run leaves either the
old report or the new one. The PNG needs matplotlib (the ``plot`` extra); without it the
other files are written and report.md says the picture was skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from altsa.evaluation.metrics import SCALARS, Metrics, figure_name
from altsa.io import atomic_write, atomic_write_json, atomic_write_text


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table. ``align``: one of ``l``/``r``/``c`` per column (default: text left,
    numbers right). ``|`` in cells is escaped; floats print with two decimals."""

    def cell(v: Any) -> str:
        text = f"{v:.2f}" if isinstance(v, float) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    if any(len(r) != len(headers) for r in rows):
        raise ValueError("every row needs one entry per header")
    if align is None:
        align = "".join(
            "r" if rows and all(isinstance(r[i], (int, float)) for r in rows) else "l" for i in range(len(headers))
        )
    if len(align) != len(headers) or set(align) - set("lrc"):
        raise ValueError("align needs one of l, r, c per header")
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _plot_confusion(path: Path, confusion: list[list[int]], labels: list[str], title: str) -> bool:
    """Row-normalised heatmap with counts. False when matplotlib is not installed.

    Uses the Agg canvas directly (no pyplot), so the process's backend stays untouched."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    import numpy as np

    counts = np.asarray(confusion, dtype=np.float64)  # [true, pred]
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # [true, pred] row-normalised
    size = 1.0 + 0.7 * len(labels)
    fig = Figure(figsize=(size + 1.5, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120))
    return True


def span(pair: Sequence[float]) -> str:
    """``[low, high]`` as ``low-high`` with two decimals (no ``-0.00``)."""
    return "-".join(f"{round(float(v), 2) + 0.0:.2f}" for v in pair)


def _level(intervals: dict[str, Any]) -> str:
    return f"{round(100 * intervals['level'])} %"


def write_report(
    out_dir: str | Path,
    metrics: Metrics,
    *,
    title: str,
    labels: Sequence[str] | None = None,
    extra: dict[str, Any] | None = None,
    intervals: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the report files into ``out_dir``; returns name -> path of what was written.

    ``labels`` (default ``metrics.labels``) renames the classes for display; ``extra``
    (run name, checkpoint, dataset, seeds aggregate, ...) is stored in metrics.json and
    listed in report.md; ``intervals`` (``evaluation.bootstrap.bootstrap``) adds each
    figure's interval to the tables and to metrics.json.
    """
    out = Path(out_dir)
    labels = list(labels) if labels is not None else list(metrics.labels)
    if len(labels) != len(metrics.labels):
        raise ValueError(f"{len(labels)} display labels for {len(metrics.labels)} classes")
    written: dict[str, Path] = {}
    written["metrics.json"] = atomic_write_json(
        out / "metrics.json", {"title": title, **metrics.to_dict(), **({"intervals": intervals} if intervals else {}),
                               "extra": extra or {}}
    )
    written["confusion.json"] = atomic_write_json(
        out / "confusion.json", {"labels": labels, "rows": "true", "columns": "predicted", "matrix": metrics.confusion}
    )
    png = out / "confusion.png"
    plotted = _plot_confusion(png, metrics.confusion, labels, title)
    if plotted:
        written["confusion.png"] = png
    else:
        png.unlink(missing_ok=True)  # never leave a picture of an older run beside new numbers

    # UAR is missing from reports older than it, micro F1 when nothing was left out
    scores = [(figure_name(key, metrics.micro_f1_excludes), key, getattr(metrics, key)) for key in SCALARS
              if getattr(metrics, key) is not None]
    md = [f"# {title}", ""]
    rows: list[list[Any]] = [[v for _, _, v in scores] + [metrics.n]]
    if intervals:
        rows.append([span(intervals[key]) for _, key, _ in scores] + [f"{_level(intervals)} interval"])
    md.append(format_table([k for k, _, _ in scores] + ["utterances"], rows,
                           align="r" * (len(scores) + 1)))
    if intervals:
        md.append(f"Intervals: the central {_level(intervals)} of {intervals['samples']:,} bootstrap resamples of "
                  f"the {intervals['conversations']:,} conversations (seed {intervals['seed']}).\n")
    if metrics.per_class_precision is not None and metrics.per_class_recall is not None:
        head = ["label", "precision", "recall", "F1", "support"]
        table = [[lab, metrics.per_class_precision[key], metrics.per_class_recall[key], metrics.per_class_f1[key],
                  sum(metrics.confusion[i])] for i, (lab, key) in enumerate(zip(labels, metrics.labels))]
        if intervals:
            head.insert(4, f"F1 {_level(intervals)} interval")
            for row, key in zip(table, metrics.labels):
                row.insert(4, span(intervals["per_class_f1"][key]))
        md += ["## Per class", "", format_table(head, table)]
    else:
        md += ["## Per class", "", format_table(
            ["label", "F1", "support"],
            [(lab, metrics.per_class_f1[key], sum(metrics.confusion[i]))
             for i, (lab, key) in enumerate(zip(labels, metrics.labels))])]
    md += ["## Confusion (rows: true, columns: predicted)", ""]
    md.append(format_table(["true \\ pred", *labels], [[lab, *row] for lab, row in zip(labels, metrics.confusion)]))
    md.append(
        "![confusion matrix](confusion.png)\n"
        if plotted
        else "_confusion.png skipped: matplotlib is not installed (`pip install 'altsa[plot]'`)._\n"
    )
    if extra:
        md += ["## Details", ""]
        md += [f"- **{k}**: {v}" for k, v in extra.items()]
        md.append("")
    written["report.md"] = atomic_write_text(out / "report.md", "\n".join(md))
    return written
