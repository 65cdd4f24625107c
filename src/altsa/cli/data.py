"""``altsa data ...``: list corpus formats, inspect a corpus."""

from __future__ import annotations

import json
from typing import Any

import typer

from altsa.cli.main import app
from altsa.cli.options import data_options

data_app = typer.Typer(help="Corpus readers: list formats, inspect a corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data")

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
@data_options()
def inspect(
    path: str = typer.Argument(..., help="Corpus file (MELD CSV, EmoryNLP CSV, any CSV with a mapping, JSONL)."),
    config: str | None = typer.Option(None, "--config", help="Read as this experiment config's data section says (YAML path or shipped name); options below refine it."),
    split: str | None = typer.Option(None, "--split", help="MELD split for clip lookup (default: from the file name)."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first bad row instead of skipping and reporting it."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    data_opts: Any = None,
) -> None:
    """Read a corpus and report rows read/kept/skipped, dialogues, speakers, labels, repairs, missing clips, problems."""
    from altsa.data.config import AUTO, DataConfig, read_file
    from altsa.data.readers import summarize

    if config is not None:
        from altsa.config import load_config
        from altsa.experiment import ExperimentConfig

        base = load_config(ExperimentConfig, config).data
    else:
        base = DataConfig(corpus=AUTO)
    data = data_opts.apply(base)
    corpus = read_file(path, data, split=split, strict=strict)
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
    rows = s["rows"]
    overview.add_row("rows read", f"{rows['read']:,}")
    overview.add_row("rows kept", f"{rows['kept']:,}")
    overview.add_row("rows skipped", f"{rows['skipped']:,}")
    for reason, n in rows["skipped_by_reason"].items():
        overview.add_row(f"  {escape(reason)}", f"{n:,}")
    for key in ("dialogues", "utterances", "speakers", "max_turns", "repaired_rows", "with_media", "with_span"):
        overview.add_row(key.replace("_", " "), f"{s[key]:,}")
    overview.add_row("missing media", f"{len(s['missing_media']):,}")
    for key, n in rows.get("ignored_keys", {}).items():
        overview.add_row(f"key {escape(repr(key))} ignored (not in the format)", f"{n:,}")
    if s.get("ignored_files"):
        overview.add_row("files ignored (not media)", f"{s['ignored_files']:,}")
    overview.add_row("problems", f"{len(s['problems']):,}")
    console.print(overview)
    if s["columns"]:
        console.print("columns: " + ", ".join(f"{role}={escape(col)}" for role, col in s["columns"].items()
                                              if col != "none"), highlight=False)
    if s["repairs"]:
        console.print("repairs: " + ", ".join(f"{escape(k)} {v:,}" for k, v in s["repairs"].items()), highlight=False)

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
