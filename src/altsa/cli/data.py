"""``altsa data ...``: list corpus formats, inspect a corpus."""

from __future__ import annotations

import json
from typing import Any

import typer

from altsa.cli.main import app

data_app = typer.Typer(help="Corpus readers: list formats, inspect a corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data")

_MAPPING_HELP = "Column mapping (csv formats)"


@data_app.command("formats", hidden=True)  # alias: other commands' help says `altsa data formats`
@data_app.command("list")
def list_formats(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """List the registered corpus formats and the shipped column mappings."""
    from altsa.data.readers import CORPORA, MAPPINGS

    formats = {name: CORPORA.get(name).description for name in CORPORA.names()}
    mappings = {name: ", ".join(f"{role}={col}" for role, col in m.columns().items()) for name, m in MAPPINGS.items()}
    if as_json:
        typer.echo(json.dumps({"formats": formats, "mappings": mappings}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="corpus formats (--format)")
    table.add_column("format", style="bold")
    table.add_column("description")
    for name, desc in formats.items():
        table.add_row(name, escape(desc))
    maps = Table(title="column mappings (--mapping)")
    maps.add_column("mapping", style="bold")
    maps.add_column("columns")
    for name, cols in mappings.items():
        maps.add_row(name, escape(cols))
    console = Console()
    console.print(table)
    console.print(maps)


@data_app.command("inspect")
def inspect(
    path: str = typer.Argument(..., help="Corpus file (MELD CSV, EmoryNLP CSV, any CSV with a mapping, JSONL)."),
    format: str | None = typer.Option(None, "--format", "-f", help="Corpus format (default: detected; see `altsa data list`)."),
    clips: str | None = typer.Option(None, "--clips", help="Media root (MELD: the folder holding train_splits/, dev_splits_complete/, ...)."),
    split: str | None = typer.Option(None, "--split", help="MELD split for clip lookup (default: from the file name)."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first bad row instead of skipping and reporting it."),
    mapping: str | None = typer.Option(None, "--mapping", help=f"{_MAPPING_HELP}: a shipped preset (see `altsa data list`)."),
    dialogue_col: str | None = typer.Option(None, "--dialogue-col", help=f"{_MAPPING_HELP}: dialogue id column (A+B for a composite)."),
    order_col: str | None = typer.Option(None, "--order-col", help=f"{_MAPPING_HELP}: utterance order column (default: file order)."),
    speaker_col: str | None = typer.Option(None, "--speaker-col", help=f"{_MAPPING_HELP}: speaker column."),
    text_col: str | None = typer.Option(None, "--text-col", help=f"{_MAPPING_HELP}: text column."),
    label_col: str | None = typer.Option(None, "--label-col", help=f"{_MAPPING_HELP}: label column (task 'emotion')."),
    media_col: str | None = typer.Option(None, "--media-col", help=f"{_MAPPING_HELP}: media path column."),
    labels: str | None = typer.Option(None, "--labels", help="Label set: 'a,b,c' (order = class index) or a known set name."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
) -> None:
    """Read a corpus and report dialogues, utterances, speakers, labels, repairs, missing clips, problems."""
    from altsa.data.readers import MAPPINGS, ColumnMapping, parse_labels, read_corpus, summarize
    from altsa.errors import ConfigError

    overrides = {
        "dialogue": dialogue_col,
        "order": order_col,
        "speaker": speaker_col,
        "text": text_col,
        "label": label_col,
        "media": media_col,
    }
    column_map = None
    if mapping is not None:
        if mapping not in MAPPINGS:
            raise ConfigError(f"unknown mapping {mapping!r}; choose one of: {', '.join(sorted(MAPPINGS))}")
        column_map = MAPPINGS[mapping]
    elif format == "emorynlp":
        column_map = MAPPINGS["emorynlp"]
    if any(v is not None for v in overrides.values()):
        column_map = (column_map or ColumnMapping()).with_overrides(**overrides)
    label_set = parse_labels(labels) if labels is not None else None

    corpus = read_corpus(
        path, format=format, clips=clips, strict=strict, mapping=column_map, label_set=label_set, split=split
    )
    summary = summarize(corpus)
    summary = {"path": path, **summary}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    _print_summary(summary)


def _print_summary(s: dict[str, Any], *, show: int = 10) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{escape(s['path'])}[/bold] ({escape(s['name'])})", highlight=False)
    overview = Table(show_header=False)
    overview.add_column(style="bold")
    overview.add_column(justify="right")
    for key in ("dialogues", "utterances", "speakers", "max_turns", "repaired_rows", "with_media"):
        overview.add_row(key.replace("_", " "), f"{s[key]:,}")
    overview.add_row("missing media", f"{len(s['missing_media']):,}")
    overview.add_row("problems", f"{len(s['problems']):,}")
    console.print(overview)
    if s["repairs"]:
        console.print("repairs: " + ", ".join(f"{k} {v:,}" for k, v in s["repairs"].items()))

    for task, counts in s["label_counts"].items():
        total = sum(counts.values()) or 1
        table = Table(title=f"{escape(task)} ({len(counts)} labels)")
        table.add_column("label")
        table.add_column("count", justify="right")
        table.add_column("%", justify="right")
        for label, n in counts.items():
            table.add_row(escape(label), f"{n:,}", f"{100 * n / total:.1f}")
        if s["unlabelled"].get(task):
            table.add_row("(unlabelled)", f"{s['unlabelled'][task]:,}", "")
        console.print(table)

    if s["top_speakers"]:
        table = Table(title="top speakers")
        table.add_column("speaker")
        table.add_column("utterances", justify="right")
        for name, n in s["top_speakers"].items():
            table.add_row(escape(name) or "(none)", f"{n:,}")
        console.print(table)

    for title, items in (("missing media", s["missing_media"]), ("problems", s["problems"])):
        if items:
            console.print(f"[bold]{title}[/bold] ({len(items):,}):", highlight=False)
            for item in items[:show]:
                console.print(f"  {item}", markup=False, highlight=False)
            if len(items) > show:
                console.print(f"  ... {len(items) - show:,} more (--json lists all)", highlight=False)
