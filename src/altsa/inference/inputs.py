"""Turning what callers pass to the Recognizer into utterances plus raw media sources.

Callers pass a ``Conversation``, a list of ``Utterance`` objects or dicts, or a JSONL-style
conversation dict (``{"dialogue_id": ..., "utterances": [...]}``). Dicts may carry media as
a file path, the file's bytes, or an array (audio: a 16 kHz waveform; video: uint8
``[frames, H, W, 3]``), which ``Utterance`` (paths only) cannot hold, so each utterance
travels as a ``Turn`` with its media sources beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from altsa.data.schema import Conversation, Utterance, is_blank
from altsa.data.textfix import SURROGATE
from altsa.errors import DataError

MEDIA_KEYS = ("media", "audio", "video")
MediaSource = str | Path | bytes | bytearray | np.ndarray


@dataclass
class Turn:
    """One utterance and the media sources to decode for it (None: not provided)."""

    utterance: Utterance
    audio: MediaSource | None = None
    video: MediaSource | None = None

    @property
    def span(self) -> tuple[float | None, float | None] | None:
        """``(start, end)`` seconds of the media to read (None: the whole of it)."""
        return self.utterance.span


def _where(index: int | None) -> str:
    return f"utterance {index}: " if index is not None else ""


def _media(value: Any, key: str, index: int | None) -> MediaSource | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (str, Path, bytes, bytearray, np.ndarray)):
        return value
    if isinstance(value, (list, tuple)):  # JSON arrays of samples
        try:
            return np.asarray(value, dtype=np.float32 if key == "audio" else np.uint8)
        except (TypeError, ValueError):
            pass
    raise DataError(f"{_where(index)}{key!r} must be a file path, bytes or an array, not {type(value).__name__}")


def _valid_unicode(text: str, key: str, where: str) -> str:
    """``text`` unless it holds a lone UTF-16 surrogate (e.g. from a JSON ``"\\ud800"``): no
    character, and no tokenizer can encode it."""
    bad = SURROGATE.search(text)
    if bad is not None:
        raise DataError(f"{where}{key!r} is not valid Unicode: it holds a lone surrogate (U+{ord(bad.group()):04X}); "
                        "replace it, e.g. with U+FFFD")
    return text


def _string(value: Any, key: str, index: int | None, *, required: bool, default: str = "") -> str:
    if value is None:
        if required:
            raise DataError(f"{_where(index)}missing {key!r}")
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{_where(index)}{key!r} must be a string, not {type(value).__name__}")
    return _valid_unicode(str(value), key, _where(index))


def turn_from_dict(item: Mapping[str, Any], *, index: int | None = None, dialogue_id: str = "conversation") -> Turn:
    """A dict (one JSONL line's fields) -> Turn. Unknown keys are ignored; wrong types are
    ``DataError`` naming the utterance. Text may be missing or empty when audio or video is
    given (an utterance without transcript: text is absent, ``not_provided``)."""
    text = item.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise DataError(f"{_where(index)}'text' must be a string, not {type(text).__name__}")
    _valid_unicode(text, "text", _where(index))
    sources = {k: _media(item.get(k), k, index) for k in MEDIA_KEYS}
    if is_blank(text) and all(v is None for v in sources.values()):
        raise DataError(f"{_where(index)}no text and no audio or video: give 'text', or 'media' / 'audio' / 'video'")
    start, end = _span(item.get("start"), item.get("end"), _where(index))
    if (start is not None or end is not None) and isinstance(sources["video"], np.ndarray):
        raise DataError(f"{_where(index)}'start'/'end' need a video file, not frames (frames carry no times)")
    position = item.get("position", index if index is not None else 0)
    if isinstance(position, bool) or not isinstance(position, int):
        raise DataError(f"{_where(index)}'position' must be an integer, not {type(position).__name__}")
    labels = item.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise DataError(f"{_where(index)}'labels' must be an object of task -> label")
    utt = Utterance(
        dialogue_id=_string(item.get("dialogue_id"), "dialogue_id", index, required=False, default=dialogue_id),
        position=position,
        speaker=_string(item.get("speaker"), "speaker", index, required=False, default=""),
        text=text,
        **{k: str(v) if isinstance(v, (str, Path)) else None for k, v in sources.items()},
        labels={str(k): str(v) for k, v in labels.items()},
        start=start,
        end=end,
    )
    return Turn(
        utt,
        audio=sources["audio"] if sources["audio"] is not None else sources["media"],
        video=sources["video"] if sources["video"] is not None else sources["media"],
    )


def _span(start: Any, end: Any, where: str) -> tuple[float | None, float | None]:
    """The utterance's span of its media (seconds); a malformed one is a ``DataError``
    whose message starts with ``where``."""
    from altsa.data.readers._base import parse_span

    try:
        return parse_span(start, end)
    except ValueError as err:
        raise DataError(f"{where}span: {err}") from None


def turn_from_utterance(utt: Utterance) -> Turn:
    if not isinstance(utt.text, str):
        raise DataError(f"utterance {utt.key}: 'text' must be a string, not {type(utt.text).__name__}")
    for key in ("text", "speaker"):
        _valid_unicode(str(getattr(utt, key)), key, f"utterance {utt.key}: ")
    if is_blank(utt.text) and not (utt.audio_source() or utt.video_source()):
        raise DataError(f"utterance {utt.key}: no text and no audio or video")
    if utt.span is not None:
        _span(utt.start, utt.end, f"utterance {utt.key}: ")
    return Turn(utt, audio=utt.audio_source(), video=utt.video_source())


def as_turn(item: Any, *, index: int | None = None, dialogue_id: str = "conversation") -> Turn:
    if isinstance(item, Turn):
        return item
    if isinstance(item, Utterance):
        return turn_from_utterance(item)
    if isinstance(item, Mapping):
        return turn_from_dict(item, index=index, dialogue_id=dialogue_id)
    if isinstance(item, str):  # bare text: the simplest way to ask
        return turn_from_dict({"text": item}, index=index, dialogue_id=dialogue_id)
    raise DataError(f"{_where(index)}expected an utterance (dict, Utterance or text), not {type(item).__name__}")


def as_turns(conversation: Any) -> list[Turn]:
    """One conversation in any accepted form -> its turns, sorted by position, speaker tags
    assigned (as ``Conversation`` does)."""
    if isinstance(conversation, Conversation):
        turns = [turn_from_utterance(u) for u in conversation.utterances]
        return turns
    dialogue_id = "conversation"
    items: Any = conversation
    if isinstance(conversation, Mapping):
        if "utterances" not in conversation:
            raise DataError("a conversation dict needs an 'utterances' list")
        dialogue_id = _string(conversation.get("dialogue_id"), "dialogue_id", None, required=False, default=dialogue_id)
        items = conversation["utterances"]
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise DataError(f"expected a conversation (Conversation, list of utterances or dict), not {type(items).__name__}")
    if not items:
        raise DataError("the conversation has no utterances")
    turns = [as_turn(item, index=i, dialogue_id=dialogue_id) for i, item in enumerate(items)]
    ids = {t.utterance.dialogue_id for t in turns}
    if len(ids) > 1:
        raise DataError(f"one conversation expected, got utterances of dialogues {sorted(ids)[:3]} (use predict_batch)")
    # Conversation sorts, rejects duplicate positions and assigns speaker tags.
    conv = Conversation(turns[0].utterance.dialogue_id, [t.utterance for t in turns])
    by_id = {id(t.utterance): t for t in turns}
    return [by_id[id(u)] for u in conv.utterances]

