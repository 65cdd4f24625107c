"""Rendering predictions: a rich table, a timeline with confidence bars, JSON lines.

The CLI (``altsa predict``, ``altsa demo``) prints these; they take plain prediction lists
so anything that holds ``UtterancePrediction`` objects can render them. Every string that
comes from the user (texts, speakers, dialogue ids, titles naming files, label names of a
run, absence reasons) goes into the tables as a ``rich.text.Text`` (``literal``,
``literal_title``), never as a str, which rich would parse as console markup: ``[/]``
would crash the table and ``[bold]B`` would show as a bold ``B``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from altsa.data.schema import is_blank
from altsa.inference.predictions import MODALITIES, NOT_PROVIDED, UtterancePrediction

# One colour per label; unknown labels (a custom label set) render in the default colour.
LABEL_STYLES = {
    "anger": "bold red",
    "disgust": "green",
    "fear": "magenta",
    "joy": "bold yellow",
    "neutral": "white",
    "sadness": "blue",
    "surprise": "bold cyan",
    "negative": "red",
    "positive": "green",
}


def json_lines(predictions: Iterable[UtterancePrediction], out: IO[str], *, digits: int = 6,
               sources: Sequence[str] | None = None) -> None:
    """One JSON object per utterance (``UtterancePrediction.to_dict``), floats rounded; with
    ``sources`` (one per prediction: the input it came from) each object starts with ``source``,
    so lines of several inputs stay apart even where their keys repeat."""
    for i, pred in enumerate(predictions):
        obj = pred.to_dict() if sources is None else {"source": sources[i], **pred.to_dict()}
        out.write(json.dumps(_rounded(obj, digits), ensure_ascii=False) + "\n")


def _rounded(obj, digits: int):
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v, digits) for v in obj]
    return obj


def confidence_bar(p: float, width: int = 10) -> str:
    """``p`` in [0, 1] as a bar of eighth blocks, e.g. 0.83 -> '████████▎ '."""
    p = min(max(p, 0.0), 1.0)
    eighths = round(p * width * 8)
    full, rest = divmod(eighths, 8)
    bar = "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])
    return bar.ljust(width)


def literal(value: object, style: str = "") -> Text:
    """``value`` as shown, brackets and all: a ``Text`` (rich reads no markup in it)."""
    return Text(str(value), style=style)


def literal_title(title: str | Text | None) -> Text | None:
    """A table title shown literally, in the style rich gives a str title (``table.title``)."""
    return literal(title, style="table.title") if isinstance(title, str) else title


def _label(label: str) -> Text:
    return literal(label, style=LABEL_STYLES.get(label.lower(), ""))


def _weights(pred: UtterancePrediction, modalities: Sequence[str]) -> str:
    return "/".join(f"{pred.weights.get(m, 0.0):.2f}" for m in modalities)


def prediction_table(
    predictions: Sequence[UtterancePrediction],
    *,
    modalities: Sequence[str] = MODALITIES,
    title: str | Text | None = None,
    show_dialogue: bool = False,
) -> Table:
    """Speaker, text, emotion, confidence and modality weights; a new dialogue starts a new
    section. The dialogue column appears for several dialogues (or with ``show_dialogue``:
    media files, whose dialogue is the file name), the absent column when some modality was
    absent for a reason other than not being provided; an utterance without transcript
    shows ``(no text)``. All user strings, ``title`` included, are shown literally."""
    # "not_provided" is the usual case (weight 0 says it already); show the informative ones
    absent = [", ".join(f"{m}: {r}" for m, r in p.absent.items() if r != NOT_PROVIDED) for p in predictions]
    several = show_dialogue or len({p.dialogue_id for p in predictions}) > 1
    table = Table(title=literal_title(title), expand=False)
    if several:
        table.add_column("dialogue", style="dim", no_wrap=True)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    timed = any(p.start is not None or p.end is not None for p in predictions)  # spans of recordings
    if timed:
        table.add_column("time", style="dim", no_wrap=True)
    table.add_column("speaker", style="bold", no_wrap=True)
    table.add_column("text", overflow="fold", ratio=1, min_width=20)
    table.add_column("emotion", no_wrap=True)
    table.add_column("conf", justify="right", no_wrap=True)
    table.add_column(literal("weights " + "/".join(m[0] for m in modalities)), no_wrap=True)
    if any(absent):
        table.add_column("absent", style="dim")
    last_dialogue = None
    for pred, why in zip(predictions, absent):
        if last_dialogue is not None and pred.dialogue_id != last_dialogue:
            table.add_section()
        row = [literal(pred.dialogue_id)] if several and pred.dialogue_id != last_dialogue else [""] if several else []
        last_dialogue = pred.dialogue_id
        text = Text("(no text)", style="dim") if is_blank(pred.text) else literal(pred.text)
        row.append(str(pred.position))
        if timed:
            row.append(_span(pred))
        row += [literal(pred.speaker), text, _label(pred.label), f"{pred.confidence:.2f}", _weights(pred, modalities)]
        if any(absent):
            row.append(literal(why))
        table.add_row(*row)
    return table


def timeline(predictions: Sequence[UtterancePrediction], *, title: str | Text | None = None) -> Table:
    """The demo view: one row per turn, speaker, text, emotion and a confidence bar."""
    table = Table(title=literal_title(title), box=None, show_header=True, pad_edge=False, header_style="dim")
    table.add_column("speaker", style="bold", no_wrap=True)
    table.add_column("text", overflow="fold", ratio=1)
    table.add_column("emotion", no_wrap=True)
    table.add_column("confidence", no_wrap=True)
    for pred in predictions:
        bar = Text(confidence_bar(pred.confidence), style=LABEL_STYLES.get(pred.label.lower(), ""))
        bar.append(f" {pred.confidence:.2f}", style="")
        table.add_row(literal(pred.speaker), literal(pred.text), _label(pred.label), bar)
    return table


def print_renderable(renderable, *, console: Console | None = None) -> None:
    """Print a table (or any renderable); a plain str is printed literally, not as markup."""
    if isinstance(renderable, str):
        renderable = literal(renderable)
    (console or Console()).print(renderable)


def clock(seconds: float) -> str:
    """Seconds as ``m:ss.s`` (``h:mm:ss.s`` from an hour on)."""
    tenths = int(round(max(seconds, 0.0) * 10))
    minutes, tenth_s = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    sec = f"{tenth_s / 10:04.1f}"
    return f"{hours}:{minutes:02d}:{sec}" if hours else f"{minutes}:{sec}"


def clock_span(start: float | None, end: float | None) -> str:
    """``m:ss.s-m:ss.s`` (an open end: ``-end``)."""
    return f"{clock(start or 0.0)}-{clock(end) if end is not None else 'end'}"


def _span(pred: UtterancePrediction) -> str:
    return "" if pred.start is None and pred.end is None else clock_span(pred.start, pred.end)


def recording_timeline(predictions: Sequence[UtterancePrediction], *, title: str | Text | None = None) -> Table:
    """An emotion timeline of a recording: time span, speaker, text, emotion, confidence."""
    table = Table(title=literal_title(title), box=None, show_header=True, pad_edge=False, header_style="dim")
    table.add_column("time", style="dim", no_wrap=True)
    table.add_column("speaker", style="bold", no_wrap=True)
    table.add_column("text", overflow="fold", ratio=1)
    table.add_column("emotion", no_wrap=True)
    table.add_column("confidence", no_wrap=True)
    for pred in predictions:
        span = clock_span(pred.start, pred.end)
        bar = Text(confidence_bar(pred.confidence), style=LABEL_STYLES.get(pred.label.lower(), ""))
        bar.append(f" {pred.confidence:.2f}", style="")
        table.add_row(span, literal(pred.speaker), literal(pred.text), _label(pred.label), bar)
    return table
