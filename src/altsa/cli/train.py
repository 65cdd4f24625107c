"""``altsa train``, ``altsa evaluate``, ``altsa ablate``: the training stages and their scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from altsa.cli.main import app
from altsa.cli.options import data_options
from altsa.errors import ConfigError


def _split_args(config: str | None, overrides: list[str] | None) -> tuple[str | None, list[str]]:
    """CONFIG is optional with --resume, so a lone ``key=value`` may land in its place."""
    overrides = list(overrides or [])
    if config is not None and "=" in config and not Path(config).exists():
        return None, [config, *overrides]
    return config, overrides


@app.command()
def train(
    config: str = typer.Argument(None, help="Experiment config: a YAML path or a shipped name (embedded-frozen, ...)."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. train.fusion.epochs=5 seed=1."),
    data: Path = typer.Option(None, "--data", help="Folder holding the split files (replaces data.root)."),
    out: Path = typer.Option(None, "--out", help="Run directory (default: runs/<config name>)."),
    stage: str = typer.Option(None, "--stage", help="Run only this stage: teacher, students or fusion."),
    resume: Path = typer.Option(None, "--resume", help="Continue a killed run from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or log lines on the console."),
    max_skipped: float = typer.Option(
        None, "--max-skipped-fraction", min=0.0, max=1.0,
        help="Stop when more than this share of a split's rows is skipped (default 0.01; data.max_skipped_fraction).",
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N, mps or auto (default: accelerate's choice)."),
    allow_missing_media: bool = typer.Option(
        False, "--allow-missing-media", help="Train on when no clip the corpus names can be used (else an error)."),
) -> None:
    """Train teacher -> students (distillation) -> fusion, or one stage; resumable."""
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training import pipeline

    config, overrides = _split_args(config, overrides)
    if stage is not None and stage not in pipeline.STAGES:
        raise ConfigError(f"--stage {stage!r}: choose one of {', '.join(pipeline.STAGES)}")
    if resume is not None:
        if config is not None or overrides or data is not None or out is not None or max_skipped is not None:
            raise ConfigError(
                "--resume takes the run's own config: give no CONFIG, overrides, --data, --out or --max-skipped-fraction"
            )
        if allow_missing_media:
            raise ConfigError("--resume takes the run's own config: give --allow-missing-media when starting it")
        summary = pipeline.resume(resume, stage=stage, quiet=quiet, progress=not quiet, device=device)
    else:
        if config is None:
            raise ConfigError("give a CONFIG (a YAML file or a shipped name) or --resume RUN")
        if max_skipped is not None:
            overrides.append(f"data.max_skipped_fraction={max_skipped}")
        if allow_missing_media:
            overrides.append("train.allow_missing_media=true")
        cfg = load_config(ExperimentConfig, config, overrides)
        summary = pipeline.train(cfg, out=out, data=data, stage=stage, quiet=quiet, progress=not quiet, device=device)
    if not summary.get("main", True):
        return  # another process of `accelerate launch`: the main one reports
    if summary.get("complete"):
        dev = summary["dev"]
        extra = (f", micro F1 without {'+'.join(dev['micro_f1_excludes'])} {dev['micro_f1']:.2f}"
                 if dev.get("micro_f1") is not None else "")
        typer.echo(f"{summary['run']}: dev weighted F1 {dev['weighted_f1']:.2f} (macro {dev['macro_f1']:.2f}, "
                   f"accuracy {dev['accuracy']:.2f}, UAR {dev['uar']:.2f}{extra})")
    else:
        typer.echo(f"{summary['run']}: stage {stage} done; continue with --stage or --resume")


def _runs(runs: list[str], seeds: str | None) -> list[str]:
    names = list(runs)
    if seeds:
        names += [s.strip() for s in seeds.split(",") if s.strip()]
    return list(dict.fromkeys(names))


@app.command()
@data_options(skip_limit=True)
def evaluate(
    runs: list[str] = typer.Argument(..., help="Run directory (or bundled model); several: mean ± std over them."),
    data: Path = typer.Option(..., "--data", help="A corpus file (any supported format) or a folder of split files."),
    split: str = typer.Option(None, "--split", help="With a folder: which split file (default dev). With a file: "
                              "its split when the name does not say it (MELD: which clip folder --clips holds)."),
    seeds: str = typer.Option(None, "--seeds", help="More run directories of the same config (other seeds), "
                              "comma-separated: runs/x-s1,runs/x-s2."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    out: Path = typer.Option(None, "--out", help="Report folder (default: RUN/eval/<split>; bundled model: the user cache)."),
    cache: str = typer.Option(None, "--cache", help="Feature cache folder (default: the run config's)."),
    micro_f1_excludes: str = typer.Option(
        None, "--micro-f1-excludes", help="Labels left out of micro F1, comma-separated (DailyDialog's figure: "
        "neutral); default: the run config's metrics.micro_f1_excludes; 'none': no micro F1."),
    bootstrap: int = typer.Option(0, "--bootstrap", min=0, max=100_000, help="Resample the conversations this many times "
                                  "(100 or more; 1000 is usual) for 95 % intervals of every figure (seed 0); 0: none."),
    data_opts: Any = None,
) -> None:
    """Weighted F1 (headline), macro F1, accuracy, UAR, per-class precision/recall/F1, confusion
    matrix and report.md; micro F1 without the labels a corpus's literature leaves out; with
    --bootstrap, how far each figure can be trusted."""
    from altsa.evaluation.evaluate import aggregate_evaluations, default_out, evaluate_run, write_evaluation
    from altsa.training.run import load_run

    if 0 < bootstrap < 100:
        raise typer.BadParameter("give 100 resamples or more (1000 is usual), or 0 for none", param_hint="--bootstrap")
    names = _runs(runs, seeds)
    excludes = _label_list(micro_f1_excludes)
    if excludes is None and len(names) > 1:
        _same_micro_f1(names)  # before minutes of scoring, not after
    evs = []
    for name in names:
        run = load_run(name)
        evs.append(evaluate_run(run, data, split=split, cache_dir=cache, options=data_opts,
                                micro_f1_excludes=excludes, bootstrap=bootstrap))
    tag = split or Path(data).stem if not Path(data).is_dir() else (split or "dev")
    target = out or default_out(names[0], Path(evs[0].run), tag)
    agg = aggregate_evaluations(evs) if len(evs) > 1 else None
    for i, ev in enumerate(evs):
        folder = target if len(evs) == 1 else target / f"run{i + 1}"
        write_evaluation(folder, ev, title=f"{Path(ev.run).name} on {Path(ev.data).name}", seeds=None)
    if agg is not None:
        from altsa.io import atomic_write_json, atomic_write_text

        atomic_write_json(target / "seeds.json", {"runs": [e.run for e in evs], **agg})
        atomic_write_text(target / "seeds.md", _seeds_markdown(agg, evs))
    if as_json:
        typer.echo(json.dumps({**_json(evs, agg), "report": str(target)}, ensure_ascii=False))
        return
    _print(evs, agg, target)


def _label_list(value: str | None) -> list[str] | None:
    """``--micro-f1-excludes``: None (the run's config), ``none`` -> [], else the labels."""
    if value is None:
        return None
    if value.strip().casefold() == "none":
        return []
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise typer.BadParameter("name one or more labels, comma-separated, or 'none'", param_hint="--micro-f1-excludes")
    return names


def _same_micro_f1(names: list[str]) -> None:
    """Runs scored together must leave the same labels out of micro F1 (their configs'
    ``metrics.micro_f1_excludes``); ``ConfigError`` naming the option that settles it."""
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.run import load_labels, resolve_run

    seen: dict[tuple[str, ...], str] = {}
    for name in names:
        path = resolve_run(name)
        if not (path / "config.yaml").is_file() or not (path / "labels.json").is_file():
            return  # not a finished run: loading it says why
        cfg = load_config(ExperimentConfig, path / "config.yaml")
        seen.setdefault(tuple(cfg.metrics.excludes(load_labels(path / "labels.json")[1].labels)), name)
    if len(seen) > 1:
        shown = "; ".join(f"{run}: {', '.join(k) or 'none'}" for k, run in seen.items())
        raise ConfigError(f"these runs leave different labels out of micro F1 ({shown}); give --micro-f1-excludes "
                          "to score them alike")


def _intervals_line(iv: dict, excludes: list[str]) -> str:
    """``95 % intervals, N resamples of G conversations: weighted F1 57.27-64.95 | ...``."""
    from altsa.evaluation.metrics import SCALARS, figure_name
    from altsa.evaluation.report import span

    return (f"{round(100 * iv['level'])} % intervals, {iv['samples']} resamples of {iv['conversations']} conversations: "
            + " | ".join(f"{figure_name(k, excludes)} {span(iv[k])}" for k in SCALARS if k in iv))


def _scalars(agg) -> list[str]:
    """The aggregate's scalar figures, in report order (UAR and micro F1 when every run has them)."""
    from altsa.evaluation.metrics import SCALARS

    return [k for k in SCALARS if k in agg]


def _json(evs, agg) -> dict:
    if agg is None:
        return evs[0].summary()
    keys = _scalars(agg)
    return {
        "runs": [e.summary() for e in evs],
        **{k: agg[k]["mean"] for k in keys},
        "micro_f1_excludes": agg.get("micro_f1_excludes", []),
        "per_class_f1": {k: v["mean"] for k, v in agg["per_class_f1"].items()},
        "std": {
            **{k: agg[k]["std"] for k in keys},
            "per_class_f1": {k: v["std"] for k, v in agg["per_class_f1"].items()},
        },
        "n": evs[0].metrics.n,
        "aggregate": agg,
    }


def _seeds_markdown(agg, evs) -> str:
    from altsa.evaluation.metrics import figure_name

    lines = [f"# Mean ± std over {len(evs)} runs", "", "| metric | mean ± std |", "|---|---|"]
    for key in _scalars(agg):
        lines.append(f"| {figure_name(key, agg.get('micro_f1_excludes', []))} | {agg[key]['mean']:.2f} ± {agg[key]['std']:.2f} |")
    for lab, st in agg["per_class_f1"].items():
        lines.append(f"| F1 {lab} | {st['mean']:.2f} ± {st['std']:.2f} |")
    lines += ["", "Runs: " + ", ".join(e.run for e in evs), ""]
    return "\n".join(lines)


def _print(evs, agg, target: Path) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from altsa.data.readers import describe_counts
    from altsa.evaluation.metrics import SCALARS, figure_name
    from altsa.evaluation.report import span

    console = Console()
    for ev in evs[:1]:
        console.print(f"{ev.data}: {describe_counts(ev.rows)}", highlight=False, markup=False)
        for note in ev.notices():
            console.print(f"note: {note}", highlight=False, markup=False)
    m = evs[0].metrics
    table = Table(title="per class" if agg is None else "per class F1")
    table.add_column("label")
    iv = evs[0].intervals if agg is None else None
    if agg is None:
        heads = ["precision", "recall", "F1", "support"]
        if iv is not None:
            heads.insert(3, f"F1 {round(100 * iv['level'])} % interval")
        for head in heads:
            table.add_column(head, justify="right")
    else:
        for i in range(len(evs)):
            table.add_column(f"run {i + 1}", justify="right")
        table.add_column("mean ± std", justify="right")
    for k, lab in enumerate(m.labels):
        if agg is None:
            row = [Text(lab), *[f"{d[lab]:.2f}" for d in (m.per_class_precision, m.per_class_recall, m.per_class_f1)],
                   str(sum(m.confusion[k]))]
            if iv is not None:
                row.insert(4, span(iv["per_class_f1"][lab]))
        else:
            st = agg["per_class_f1"][lab]
            row = [Text(lab), *[f"{ev.metrics.per_class_f1[lab]:.2f}" for ev in evs], f"{st['mean']:.2f} ± {st['std']:.2f}"]
        table.add_row(*row)
    console.print(table)
    if agg is None:
        figures = [(k, getattr(m, k)) for k in SCALARS]
        console.print(" | ".join(f"{figure_name(k, m.micro_f1_excludes)} {v:.2f}" for k, v in figures if v is not None)
                      + f" | n {m.n}", highlight=False, markup=False, soft_wrap=True)
        if iv is not None:
            console.print(_intervals_line(iv, m.micro_f1_excludes), highlight=False, markup=False, soft_wrap=True)
    else:
        console.print(" | ".join(f"{figure_name(k, agg.get('micro_f1_excludes', []))} {agg[k]['mean']:.2f} ± {agg[k]['std']:.2f}"
                                 for k in _scalars(agg)) + f" | runs {len(evs)} | n {m.n}", highlight=False, markup=False,
                      soft_wrap=True)
        for i, ev in enumerate(evs):
            if ev.intervals is not None:
                console.print(f"run {i + 1}: " + _intervals_line(ev.intervals, m.micro_f1_excludes),
                              highlight=False, markup=False, soft_wrap=True)
    console.print(f"report: {target}", highlight=False, markup=False)


@app.command()
@data_options(skip_limit=True)
def compare(
    run_a: str = typer.Argument(..., help="Run directory or bundled model A."),
    run_b: str = typer.Argument(..., help="Run directory or bundled model B (same label set)."),
    data: Path = typer.Option(..., "--data", help="A corpus file (any supported format) or a folder of split files."),
    split: str = typer.Option(None, "--split", help="With a folder: which split file (default dev)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=100, max=100_000, help="Resamples of the conversations (seed 0)."),
    micro_f1_excludes: str = typer.Option(
        None, "--micro-f1-excludes", help="Labels left out of micro F1, comma-separated; default: A's config's; 'none'."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    cache: str = typer.Option(None, "--cache", help="Feature cache folder (default: each run config's)."),
    data_opts: Any = None,
) -> None:
    """Is A better than B on the same data? Both score it, then the paired bootstrap over its
    conversations gives each figure's difference A - B, its 95 % interval and how often A does
    not beat B."""
    from altsa.evaluation.evaluate import compare_runs, evaluate_run
    from altsa.evaluation.metrics import SCALARS, figure_name
    from altsa.training.run import load_labels, load_run, resolve_run

    excludes = _label_list(micro_f1_excludes)
    if excludes is None:
        _same_micro_f1([run_a, run_b])
    sets = [load_labels(resolve_run(name) / "labels.json")[1].labels for name in (run_a, run_b)]
    if list(sets[0]) != list(sets[1]):  # before minutes of scoring, not after
        raise ConfigError(f"{run_b} answers in other labels ({', '.join(sets[1])}) than {run_a} "
                          f"({', '.join(sets[0])}): only runs of one label set compare")
    evs = [evaluate_run(load_run(name), data, split=split, cache_dir=cache, options=data_opts,
                        micro_f1_excludes=excludes) for name in (run_a, run_b)]
    result = compare_runs(evs[0], evs[1], list(sets[0]), samples=bootstrap)
    result = {"a": evs[0].run, "b": evs[1].run, "data": evs[0].data, "n": evs[0].metrics.n, "rows": evs[0].rows,
              "unlabelled": evs[0].unlabelled, "micro_f1_excludes": evs[0].metrics.micro_f1_excludes, **result}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    from altsa.data.readers import describe_counts

    Console().print(f"{evs[0].data}: {describe_counts(evs[0].rows)}", highlight=False, markup=False)
    for note in evs[0].notices():
        Console().print(f"note: {note}", highlight=False, markup=False)

    table = Table(title=f"A {Path(result['a']).name} vs B {Path(result['b']).name}: {result['n']} utterances, "
                        f"{result['conversations']} conversations, {result['samples']} paired resamples")
    for head in ("figure", "A", "B", "A - B", f"{round(100 * result['level'])} % interval", "P(A not better)"):
        table.add_column(head, justify="left" if head == "figure" else "right")
    rows = [(figure_name(k, evs[0].metrics.micro_f1_excludes), result[k]) for k in SCALARS if k in result]
    rows += [(f"F1 {lab}", r) for lab, r in result["per_class_f1"].items()]
    for name, r in rows:
        signed = [f"{round(v, 2) + 0.0:+.2f}" for v in (r["difference"], *r["interval"])]  # no -0.00
        table.add_row(name, f"{r['a']:.2f}", f"{r['b']:.2f}", signed[0], f"{signed[1]} to {signed[2]}",
                      f"{r['p_a_not_better']:.3f}")
    Console().print(table)


@app.command()
def ablate(
    config: str = typer.Argument(..., help="Base experiment config (YAML path or shipped name)."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides applied to every row."),
    out: Path = typer.Option(None, "--out", help="Folder for the row runs and ablation.md (default runs/<name>-ablation)."),
    rows: str = typer.Option(None, "--rows", help="Comma-separated subset of rows (default: all)."),
    share_teacher: bool = typer.Option(False, "--share-teacher",
                                       help="Train the teacher once (first row) and reuse it in every later row."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or log lines."),
    data: Path = typer.Option(None, "--data", help="Folder holding the split files (replaces data.root)."),
) -> None:
    """Train and score each row of the paper's ablation table; writes OUT/ablation.md."""
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.ablate import ablate as run_ablation

    extra = [f"data.root={data}"] if data is not None else []
    cfg = load_config(ExperimentConfig, config, [*extra, *list(overrides or [])])
    target = out or Path("runs") / f"{cfg.name}-ablation"
    chosen = [r.strip() for r in rows.split(",")] if rows else None
    results = run_ablation(cfg, target, rows=chosen, share_teacher=share_teacher, quiet=quiet, progress=not quiet)
    for r in results:
        score = f"{r['dev_wf1']:.2f}" if r.get("dev_wf1") is not None else "not run"
        typer.echo(f"{r['row']:<12} dev wF1 {score:>8}  {r.get('note', '')}")
    typer.echo(f"table: {target / 'ablation.md'}")
