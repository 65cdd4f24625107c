"""Options several commands share: how to read a corpus (``--format``, ``--mapping``,
``--dialogue-col`` ... ``--labels``, ``--clips``, ``--max-skipped-fraction``).

``data inspect``, ``evaluate``, ``predict`` and ``extract`` take the same reading options as
the config's data section has keys (docs/data.md), declared once here: ``@data_options()``
adds them to a command's signature and hands the command one ``DataOptions``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Optional

import typer

_MAP = "Column mapping (csv formats)"

# parameter name -> (role in the mapping or None, the typer option)
_COLUMN_OPTIONS: dict[str, tuple[str, Any]] = {
    "dialogue_col": ("dialogue", typer.Option(None, "--dialogue-col", help=f"{_MAP}: dialogue id column (A+B joins columns; none: one conversation per row).")),
    "order_col": ("order", typer.Option(None, "--order-col", help=f"{_MAP}: utterance order column (default: file order).")),
    "speaker_col": ("speaker", typer.Option(None, "--speaker-col", help=f"{_MAP}: speaker column.")),
    "text_col": ("text", typer.Option(None, "--text-col", help=f"{_MAP}: text column (none: clips without transcripts).")),
    "label_col": ("label", typer.Option(None, "--label-col", help=f"{_MAP}: label column.")),
    "media_col": ("media", typer.Option(None, "--media-col", help=f"{_MAP}: media path column (a clip with audio and/or video).")),
    "audio_col": ("audio", typer.Option(None, "--audio-col", help=f"{_MAP}: audio file column.")),
    "video_col": ("video", typer.Option(None, "--video-col", help=f"{_MAP}: video file column.")),
    "start_col": ("start", typer.Option(None, "--start-col", help=f"{_MAP}: start time column (seconds into the media; default: a 'start' column).")),
    "end_col": ("end", typer.Option(None, "--end-col", help=f"{_MAP}: end time column (seconds into the media; default: an 'end' column).")),
}


def _option_params(skip_limit: bool, clips: bool) -> list[tuple[str, Any, Any]]:
    params: list[tuple[str, Any, Any]] = [
        ("format", Optional[str], typer.Option(None, "--format", "-f", help="Corpus format (default: detected; see `altsa data list`).")),
        ("mapping", Optional[str], typer.Option(None, "--mapping", help=f"{_MAP}: a shipped preset (see `altsa data list`).")),
    ]
    params += [(name, Optional[str], opt) for name, (_, opt) in _COLUMN_OPTIONS.items()]
    params.append(("labels", Optional[str], typer.Option(None, "--labels", help="Label set: 'a,b,c' (order = class index) or a known set name.")))
    params.append(("name_pattern", Optional[str], typer.Option(None, "--name-pattern", help="Clips: a regular expression searched in each file name; its (?P<label>...) group labels the clip, (?P<speaker>...) names the speaker.")))
    if clips:
        params.append(("clips", Optional[str], typer.Option(None, "--clips", help="Media root (MELD: the folder holding train_splits/, ...; csv/jsonl: relative clip paths).")))
    if skip_limit:
        params.append((
            "max_skipped_fraction", Optional[float],
            typer.Option(None, "--max-skipped-fraction", min=0.0, max=1.0,
                         help="Stop when more than this share of a corpus' rows is skipped (default 0.01, or data.max_skipped_fraction)."),
        ))
    return params


def data_options(*, skip_limit: bool = False, clips: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: add the corpus-reading options to a typer command; the command receives
    them as one ``data_opts: DataOptions`` keyword argument."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        extra = _option_params(skip_limit, clips)
        names = [name for name, _, _ in extra]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from altsa.data.config import DataOptions

            values = {name: kwargs.pop(name, None) for name in names}
            columns = {role: values[name] for name, (role, _) in _COLUMN_OPTIONS.items() if values[name] is not None}
            opts = DataOptions(
                format=values["format"],
                mapping=values["mapping"],
                columns=columns,
                labels=values["labels"],
                name_pattern=values["name_pattern"],
                clips=values.get("clips"),
                max_skipped_fraction=values.get("max_skipped_fraction"),
            )
            return fn(*args, data_opts=opts, **kwargs)

        sig = inspect.signature(fn, eval_str=True)
        params = [p for p in sig.parameters.values() if p.name != "data_opts"]
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann)
                   for name, ann, opt in extra]
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        hints = {p.name: p.annotation for p in params}
        if sig.return_annotation is not inspect.Signature.empty:
            hints["return"] = sig.return_annotation
        wrapper.__annotations__ = hints
        return wrapper

    return decorate
