"""``altsa extract CONFIG [key=value ...]``: fill the feature cache for an experiment.

Encodes every utterance of every split in ``data.splits`` with each frozen encoder of
``encoders.modalities`` and stores the vectors under ``features.cache_dir`` (docs/features.md).
Resumable: a rerun computes only what is missing. Scales out with
``accelerate launch --num_processes N $(which altsa) extract CONFIG``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from altsa.cli.main import app


@app.command("extract")
def extract_command(
    config: str = typer.Argument(..., help="Experiment config: a YAML path or a shipped name (e.g. embedded-frozen)."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. encoders.text.max_length=128."),
    split: list[str] | None = typer.Option(
        None, "--split", "-s", help="Only this split (repeatable; default: every split of data.splits)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (on stderr)."),
) -> None:
    """Compute and cache per-utterance vectors for each modality and split of CONFIG."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from altsa.config import load_config
    from altsa.data.readers import read_corpus
    from altsa.encoders import build_encoder, resolve_encoders
    from altsa.errors import ConfigError
    from altsa.experiment import ExperimentConfig
    from altsa.features import cache_status, extract
    from altsa.features.extract import process_state

    cfg = load_config(ExperimentConfig, config, list(overrides or []))
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
    out = Console(quiet=not state.is_main_process)
    root = Path(cfg.data.root)
    corpora = {}
    for name, file in splits.items():
        corpora[name] = read_corpus(root / file, format=cfg.data.corpus, clips=cfg.data.clips, split=name)
        skipped = len(corpora[name].problems)
        note = f" ({skipped} rows skipped: `altsa data inspect {root / file}`)" if skipped else ""
        corpus = corpora[name]
        out.print(f"{name}: {corpus.num_utterances} utterances in {len(corpus.conversations)} dialogues{note}")

    summary = Table(title=f"feature cache {cfg.features.cache_dir}")
    for col in ("modality", "split", "utterances", "reused", "computed", "present", "absent (why)"):
        summary.add_column(col, justify="left" if col in ("modality", "split", "absent (why)") else "right")
    for modality, enc_cfg in encoders.items():
        encoder = build_encoder(enc_cfg, device=state.device)
        if not getattr(encoder, "frozen", True):
            out.print(f"[yellow]{modality}: the encoder trains (freeze=false or unfreeze_last>0); its features are "
                      f"computed during training, not cached[/yellow]")
            continue
        for name, corpus in corpora.items():
            cached, total = cache_status(cfg.features.cache_dir, corpus, encoder)
            out.print(f"{modality} {name}: {cached} of {total} cached, {total - cached} to compute")
            table = extract(
                corpus, encoder, cfg.features.cache_dir, batch_size=cfg.features.batch_size,
                shard_size=cfg.features.shard_size, progress=progress, state=state,
            )
            absent = table.absent_counts()
            why = ", ".join(f"{reason} {n}" for reason, n in absent.most_common()) or "-"
            summary.add_row(modality, name, str(total), str(cached), str(total - cached),
                            str(int(table.present.sum())), why)
    out.print(summary)
