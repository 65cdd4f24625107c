"""Entry point of the ``altsa`` command.

Each task owns one module under ``altsa.cli`` that registers its commands on ``app``.
``main`` turns every ``AltsaError`` (and every ``OSError``: a path the system refuses) into a
one-line message and exit status 2, so users never see a stack trace for their own mistakes.
"""

from __future__ import annotations

import sys

import typer

from altsa import __version__
from altsa.errors import AltsaError

app = typer.Typer(
    name="altsa",
    help="Multimodal emotion recognition in conversation (ALTSA).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"altsa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Multimodal emotion recognition in conversation (ALTSA)."""


def _register() -> None:
    # Imported for their side effect: each module adds its commands to ``app``.
    from altsa.cli import data  # noqa: F401
    from altsa.cli import extract  # noqa: F401
    from altsa.cli import predict  # noqa: F401
    from altsa.cli import recordings  # noqa: F401
    from altsa.cli import serve  # noqa: F401
    from altsa.cli import train  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        # standalone mode: the command line parser (typer's own bundled click) prints usage
        # mistakes with the usage line and exits 2 itself; only our errors reach the handlers.
        app(args=argv, standalone_mode=True)
    except AltsaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a path the system refuses (an output folder that is a file, no permission, ...)
        print(f"error: {_os_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as ex:
        code = ex.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0


def _os_error(err: OSError) -> str:
    """``PATH: reason`` (``[Errno 17] File exists: 'x'`` reads as ``x: File exists``)."""
    if err.filename is None:
        return str(err.strerror or err)
    names = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 is not None else "")
    return f"{names}: {err.strerror or type(err).__name__}"


if __name__ == "__main__":
    # ``python -m altsa.cli.main`` (and ``accelerate launch -m altsa.cli.main``): run the
    # imported module's ``main``, whose ``app`` is the one the command modules register on.
    from altsa.cli.main import main as _main

    sys.exit(_main())
