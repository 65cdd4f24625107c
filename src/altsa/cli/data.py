"""``altsa data ...``: list corpus formats, inspect a corpus."""

from __future__ import annotations

import typer

from altsa.cli.main import app

data_app = typer.Typer(help="Corpus readers: list formats, inspect a corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data")
