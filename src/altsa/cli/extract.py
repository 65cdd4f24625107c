"""``altsa extract CONFIG [key=value ...]``: fill the feature cache for an experiment.

Encodes every utterance of every split in ``data.splits`` with each frozen encoder of
``encoders.modalities`` and stores the vectors under ``features.cache_dir`` (docs/features.md).
Resumable: a rerun computes only what is missing. Every split is read as ``altsa train`` reads
it: a split whose skipped rows exceed data.max_skipped_fraction stops the command. Scales out with
``accelerate launch --num_processes N $(which altsa) extract CONFIG``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from altsa.cli.main import app
from altsa.cli.options import data_options


@app.command("extract")
@data_options(skip_limit=True)
def extract_command(
    config: str = typer.Argument(..., help="Experiment config: a YAML path or a shipped name (e.g. embedded-frozen)."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. encoders.text.max_length=128."),
    data: Path | None = typer.Option(None, "--data", help="Folder holding the split files (replaces data.root)."),
    split: list[str] | None = typer.Option(
        None, "--split", "-s", help="Only this split (repeatable; default: every split of data.splits)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (on stderr)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (rows and cache counts); the rest goes to stderr."),
    data_opts: Any = None,
) -> None:
    """Compute and cache per-utterance vectors for each modality and split of CONFIG."""
    import dataclasses

    import torch
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from altsa.config import load_config
    from altsa.data.config import read_split, split_path
    from altsa.data.readers import describe_counts
    from altsa.encoders import build_encoder, resolve_encoders
    from altsa.errors import ConfigError
    from altsa.experiment import ExperimentConfig
    from altsa.features import cache_status, extract
    from altsa.features.extract import process_state

    cfg = load_config(ExperimentConfig, config, list(overrides or []))
    cfg.data = data_opts.apply(cfg.data)
    if data is not None:
        cfg.data = dataclasses.replace(cfg.data, root=str(data))
    encoders = resolve_encoders(cfg.encoders)
    splits = dict(cfg.data.splits)
    if split:
        unknown = [s for s in split if s not in splits]
        if unknown:
            raise ConfigError(f"unknown split(s) {', '.join(unknown)}; data.splits has: {', '.join(splits)}")
        splits = {s: splits[s] for s in split}
    if threads:
        torch.set_num_threads(threads)
    state = process_state()
    # With --json stdout holds the one JSON object; everything for people goes to stderr.
    out = Console(quiet=not state.is_main_process, stderr=as_json)
    corpora = {}
    report: dict[str, Any] = {"cache_dir": cfg.features.cache_dir, "splits": {}, "features": []}
    for name in splits:
        corpus = corpora[name] = read_split(cfg.data, name)
        counts = corpus.counts()
        report["splits"][name] = {"file": str(split_path(cfg.data, name)), **counts,
                                  "dialogues": len(corpus.conversations)}
        out.print(f"{name}: {split_path(cfg.data, name)}: {describe_counts(counts)}; "
                  f"{corpus.num_utterances} utterances in {len(corpus.conversations)} dialogues",
                  highlight=False, markup=False)  # paths, split names, JSONL keys: shown literally

    summary = Table(title=Text(f"feature cache {cfg.features.cache_dir}", style="table.title"))
    for col in ("modality", "split", "utterances", "reused", "computed", "present", "absent (why)"):
        summary.add_column(col, justify="left" if col in ("modality", "split", "absent (why)") else "right")
    for modality, enc_cfg in encoders.items():
        encoder = build_encoder(enc_cfg, device=state.device)
        if not getattr(encoder, "frozen", True):
            out.print(f"[yellow]{escape(modality)}: the encoder trains (freeze=false or unfreeze_last>0); "
                      f"its features are computed during training, not cached[/yellow]")
            continue
        for name, corpus in corpora.items():
            cached, total = cache_status(cfg.features.cache_dir, corpus, encoder)
            out.print(f"{modality} {name}: {cached} of {total} cached, {total - cached} to compute", markup=False)
            table = extract(
                corpus, encoder, cfg.features.cache_dir, batch_size=cfg.features.batch_size,
                shard_size=cfg.features.shard_size, progress=progress, state=state,
            )
            absent = table.absent_counts()
            why = ", ".join(f"{reason} {n}" for reason, n in absent.most_common()) or "-"
            summary.add_row(Text(modality), Text(name), str(total), str(cached), str(total - cached),
                            str(int(table.present.sum())), Text(why))
            report["features"].append({"modality": modality, "split": name, "utterances": total, "reused": cached,
                                       "computed": total - cached, "present": int(table.present.sum()),
                                       "absent": dict(absent.most_common())})
    out.print(summary)
    if as_json and state.is_main_process:
        typer.echo(json.dumps(report, ensure_ascii=False))
