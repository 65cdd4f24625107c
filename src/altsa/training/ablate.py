"""``altsa ablate``: train and score every row of the paper's ablation table (spec, "Ablations").

Each row is the base config plus overrides; rows a dataset cannot support (no audio
features, say) are reported as not run, with the reason, instead of failing the table.
Paper figures are MELD *test* weighted F1; ours are *dev* weighted F1 (MELD test is held back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altsa.config import apply_overrides, from_dict, to_dict
from altsa.errors import AltsaError
from altsa.experiment import ExperimentConfig
from altsa.io import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Row:
    name: str  # folder name and CLI id
    title: str  # as the paper's table words it
    overrides: tuple[str, ...] = ()
    paper: float | None = None  # MELD test weighted F1 reported by the paper
    needs: tuple[str, ...] = field(default=())  # modalities the row needs features (present) for


ROWS: tuple[Row, ...] = (
    Row("full", "ALTSA (full)", (), 68.88, ("text", "audio", "video")),
    Row("no-audio", "without audio", ("model.modalities=[text,video]",), 61.88, ("text", "video")),
    Row("no-video", "without video", ("model.modalities=[text,audio]",), 54.74, ("text", "audio")),
    Row("text-only", "without audio and video (text only)", ("model.modalities=[text]",), 65.39, ("text",)),
    Row("audio-only", "without text and video (audio only)", ("model.modalities=[audio]",), 33.73, ("audio",)),
    Row("no-distill", "without knowledge distillation", ("train.distill=false",), 60.02, ("text", "audio", "video")),
    Row("telme-shift", "fusion: TelME attention-based shifting", ("model.fusion=telme-shift",), None,
        ("text", "audio", "video")),
    Row("concat", "fusion: plain concatenation", ("model.fusion=concat",), None, ("text", "audio", "video")),
    Row("no-context", "conversation model off", ("model.context=none",), None, ("text", "audio", "video")),
)


def row_config(base: ExperimentConfig, row: Row, extra: list[str]) -> ExperimentConfig:
    data = apply_overrides(to_dict(base), [*row.overrides, *extra])
    data["name"] = f"{base.name}-{row.name}"
    return from_dict(ExperimentConfig, data, source=f"ablation row {row.name}")


def _fmt(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def ablation_table(results: list[dict[str, Any]]) -> str:
    full = next((r for r in results if r["row"] == "full" and r.get("dev_wf1") is not None), None)
    paper_full = ROWS[0].paper
    lines = [
        "| row | paper: MELD test wF1 | paper Δ | ours: dev wF1 | ours Δ | dev macro F1 | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ours, paper = r.get("dev_wf1"), r.get("paper")
        d_paper = paper - paper_full if paper is not None else None
        d_ours = ours - full["dev_wf1"] if ours is not None and full is not None else None
        delta = lambda x: "–" if x is None else f"{x:+.2f}"  # noqa: E731
        lines.append(
            f"| {r['title']} | {_fmt(paper)} | {delta(d_paper) if r['row'] != 'full' else ''} | {_fmt(ours)} | "
            f"{delta(d_ours) if r['row'] != 'full' else ''} | {_fmt(r.get('dev_macro_f1'))} | {r.get('note', '')} |"
        )
    return "\n".join(lines) + "\n"


def ablate(
    base: ExperimentConfig,
    out: str | Path,
    *,
    rows: list[str] | None = None,
    overrides: list[str] | None = None,
    share_teacher: bool = False,
    quiet: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train (or resume) each row in ``out/<row>/`` and write ``out/ablation.{md,json}``.

    ``share_teacher``: the first row that trains a teacher trains it; every later row reuses
    it (``train.teacher_from``) instead of fine-tuning its own copy, so the table needs one
    teacher's time and disk (one RoBERTa-large) instead of one per row. Rows differ only
    after the teacher stage, and the teacher stage is deterministic per seed, so a shared
    teacher is the one each row would have trained."""
    from altsa.training.pipeline import resume, train

    out = Path(out)
    chosen = [r for r in ROWS if rows is None or r.name in rows]
    unknown = sorted(set(rows or []) - {r.name for r in ROWS})
    if unknown:
        from altsa.errors import ConfigError

        raise ConfigError(f"unknown ablation row {unknown[0]!r}; rows: {', '.join(r.name for r in ROWS)}")
    results: list[dict[str, Any]] = []
    teacher: Path | None = None  # the row whose teacher later rows share
    for row in chosen:
        entry: dict[str, Any] = {"row": row.name, "title": row.title, "paper": row.paper,
                                 "overrides": list(row.overrides)}
        run_dir = out / row.name
        try:
            extra = list(overrides or [])
            if share_teacher and teacher is not None:
                extra.append(f"train.teacher_from={teacher}")
            cfg = row_config(base, row, extra)
            if (run_dir / "config.yaml").is_file():
                summary = resume(run_dir, quiet=quiet, progress=progress)
            else:
                summary = train(cfg, out=run_dir, quiet=quiet, progress=progress)
            dev = summary.get("dev", {})
            entry.update(dev_wf1=dev.get("weighted_f1"), dev_macro_f1=dev.get("macro_f1"),
                         dev_accuracy=dev.get("accuracy"), per_class_f1=dev.get("per_class_f1"), run=str(run_dir))
            entry.update(_trained(run_dir))
            entry["note"] = _note(row, run_dir)
            if share_teacher and teacher is None and (run_dir / "checkpoints" / "teacher" / "altsa.safetensors").is_file():
                teacher = run_dir.resolve()
        except AltsaError as err:
            entry["note"] = f"not run: {err}"
        results.append(entry)
        atomic_write_json(out / "ablation.json", results)
    header = (
        f"# Ablations: {base.name}\n\nPaper: MELD **test** weighted F1 (Bhattarai et al. 2025). Ours: **dev** weighted F1 "
        "(MELD test is held back), each row trained by `altsa ablate` with the epoch chosen on dev.\n\n"
    )
    atomic_write_text(out / "ablation.md", header + ablation_table(results))
    return results


def _trained(run_dir: Path) -> dict[str, Any]:
    """What the row's run encoded, fused and trained (from its metrics.json)."""
    import json

    path = run_dir / "metrics.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {"fused": data.get("fused_modalities"), "encoders": data.get("encoders"),
            "teacher_trained": data.get("teacher_trained"), "students_trained": data.get("students_trained")}


def _note(row: Row, run_dir: Path) -> str:
    """Say when the data made a row differ from what the paper ran (e.g. no clips: text only)."""
    import json

    path = run_dir / "metrics.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    used = data.get("fused_modalities")
    notes = []
    if used is not None and set(used) != set(row.needs):
        notes.append(f"fused {'+'.join(used)} (data has no {'/'.join(m for m in row.needs if m not in used)})")
    if row.name == "no-distill" and not data.get("students_trained"):
        notes.append("no student trained, so distillation changes nothing")
    return "; ".join(notes)
