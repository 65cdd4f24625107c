"""The data model every stage shares: label sets, utterances, conversations, corpora.

A conversation is an ordered list of utterances; each has a speaker, its text, optional
media (one clip holding audio and video, as MELD ships, or separate audio/video files)
and optional labels per task (``{"emotion": "joy", "sentiment": "positive"}``).
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from altsa.errors import DataError


def is_blank(text: str) -> bool:
    """Whether ``text`` says nothing: only whitespace, separators, "other" characters (controls,
    format characters such as a zero-width space, a joiner or a byte-order mark; private-use
    and unassigned code points) and marks with no base character to sit on (a lone combining
    accent, a variation selector). Such a turn has no text, like "": a tokenizer finds no word."""
    return all(ch.isspace() or unicodedata.category(ch)[0] in "CZM" for ch in text)


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of class labels; the order fixes the class index (stable across runs).

    ``aliases`` maps other spellings (case-folded) to a canonical label, e.g. EmoryNLP's
    ``Joyful`` -> ``joyful``; lookups are case-insensitive.
    """

    name: str
    labels: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.labels:
            raise DataError(f"label set {self.name!r} is empty")
        if len(set(self.labels)) != len(self.labels):
            raise DataError(f"label set {self.name!r} has duplicate labels")

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[str]:
        return iter(self.labels)

    def canonical(self, label: str) -> str:
        """The canonical spelling of ``label``; ``DataError`` if it is not in the set."""
        key = label.strip().casefold()
        for lab in self.labels:
            if lab.casefold() == key:
                return lab
        for alias, lab in self.aliases:
            if alias.casefold() == key:
                return lab
        raise DataError(f"unknown label {label!r} for {self.name} (expected one of: {', '.join(self.labels)})")

    def index(self, label: str) -> int:
        return self.labels.index(self.canonical(label))

    def __contains__(self, label: object) -> bool:
        if not isinstance(label, str):
            return False
        try:
            self.canonical(label)
        except DataError:
            return False
        return True

    @classmethod
    def infer(cls, name: str, labels: Iterable[str]) -> LabelSet:
        """A label set from the labels seen in a corpus (case-folded, sorted: stable order)."""
        seen = sorted({lab.strip().casefold() for lab in labels if lab and lab.strip()})
        return cls(name, tuple(seen))


MELD_EMOTION = LabelSet("meld-emotion", ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"))
MELD_SENTIMENT = LabelSet("meld-sentiment", ("negative", "neutral", "positive"))
# EmoryNLP (Zahiri & Choi 2018) publishes capitalised labels (``Joyful``); sorted like
# ``LabelSet.infer`` would sort them, so an inferred full set has the same order.
EMORYNLP_EMOTION = LabelSet(
    "emorynlp-emotion", ("joyful", "mad", "neutral", "peaceful", "powerful", "sad", "scared")
)

# DailyDialog (Li et al. 2017) publishes label ids 0-6 in this order; 0 ("no emotion") is neutral
DAILYDIALOG_EMOTION = LabelSet(
    "dailydialog-emotion", ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
)

LABEL_SETS: dict[str, LabelSet] = {
    ls.name: ls for ls in (MELD_EMOTION, MELD_SENTIMENT, EMORYNLP_EMOTION, DAILYDIALOG_EMOTION)
}

# Why a modality is absent for an utterance when its input simply carried none (no text, no
# clip): the one spelling the feature cache, the Recognizer, the CLI and the service share.
# Media decoding adds its own reasons (``altsa.data.media.Absent``).
NOT_PROVIDED = "not_provided"


def parse_seconds(value: object) -> float | None:
    """A time in seconds from a number or a string (``12.5``, ``1:02.5``, ``00:01:02,500``);
    None when empty. ``ValueError`` when it is not a time (a bool, text, a list)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a time in seconds: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a time in seconds: {value!r}")
    parts = value.strip().replace(",", ".").split(":")
    if len(parts) > 3 or any(not p.strip() for p in parts):
        raise ValueError(f"not a time in seconds: {value!r}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a time in seconds: {value!r}") from None
    if len(numbers) > 1 and any(n < 0 for n in numbers):
        raise ValueError(f"not a time: {value!r}")
    seconds = 0.0
    for n in numbers:  # [[hours:]minutes:]seconds
        seconds = seconds * 60 + n
    return seconds


def span_problem(start: float | None, end: float | None) -> str | None:
    """Why ``(start, end)`` cannot be a span of a media file (None: it can): not finite,
    negative, or an end not after the start. Checked when a corpus or a request is read;
    a span that lies beyond the end of its file is found when decoding
    (``Absent("span_outside_file")``)."""
    for name, t in (("start", start), ("end", end)):
        if t is None:
            continue
        if not math.isfinite(t):
            return f"{name} {t} is not a finite time"
        if t < 0:
            return f"{name} {t:g} s is negative"
    if start is not None and end is not None and end <= start:
        return f"end {end:g} s is not after start {start:g} s"
    if start is None and end is not None and end <= 0:
        return f"end {end:g} s is not after the start of the file"
    return None


@dataclass
class Utterance:
    """One turn of a conversation.

    ``position`` orders utterances within a dialogue; it may have gaps (MELD does), so it
    is a sort key, never an index. ``speaker_tag`` (``s1``, ``s2``, ...) is assigned by
    order of first appearance within the conversation (see ``Conversation``).
    """

    dialogue_id: str
    position: int
    speaker: str
    text: str  # "" when the utterance has no transcript (audio/video only): text is NOT_PROVIDED
    speaker_tag: str = ""
    media: str | None = None  # one clip holding audio and/or video (MELD's mp4)
    audio: str | None = None  # a separate audio file; overrides the clip's audio track
    video: str | None = None  # a separate video file; overrides the clip's video track
    labels: dict[str, str] = field(default_factory=dict)  # task -> label
    meta: dict[str, str] = field(default_factory=dict)  # corpus-specific extras (season, times, ...)
    # The utterance's span of its media files, in seconds from the start of the file (one long
    # recording with utterance times: IEMOCAP's sessions, a transcript of ``altsa transcribe``).
    # None: from the start / to the end; both None: the whole file.
    start: float | None = None
    end: float | None = None

    @property
    def key(self) -> str:
        """Stable identity used by the feature cache: ``dialogue_id/position``."""
        return f"{self.dialogue_id}/{self.position}"

    @property
    def has_text(self) -> bool:
        return not is_blank(self.text)

    @property
    def span(self) -> tuple[float | None, float | None] | None:
        """``(start, end)`` seconds of the media to read; None: the whole file."""
        return None if self.start is None and self.end is None else (self.start, self.end)

    def audio_source(self) -> str | None:
        return self.audio or self.media

    def video_source(self) -> str | None:
        return self.video or self.media


@dataclass
class Conversation:
    """Utterances of one dialogue, sorted by position, with speaker tags assigned."""

    dialogue_id: str
    utterances: list[Utterance]

    def __post_init__(self) -> None:
        self.utterances = sorted(self.utterances, key=lambda u: u.position)
        positions = [u.position for u in self.utterances]
        dupes = [p for p, n in Counter(positions).items() if n > 1]
        if dupes:
            raise DataError(f"dialogue {self.dialogue_id!r} has duplicate position(s) {dupes}")
        assign_speaker_tags(self.utterances)

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def __getitem__(self, i: int) -> Utterance:
        return self.utterances[i]

    @property
    def speakers(self) -> list[str]:
        """Speaker names in order of first appearance."""
        return list(dict.fromkeys(u.speaker for u in self.utterances))


def assign_speaker_tags(utterances: Sequence[Utterance]) -> None:
    """Tag speakers ``s1, s2, ...`` by order of first appearance (the spec's speaker tokens)."""
    tags: dict[str, str] = {}
    for u in utterances:
        if u.speaker not in tags:
            tags[u.speaker] = f"s{len(tags) + 1}"
        u.speaker_tag = tags[u.speaker]


@dataclass
class Problem:
    """Rows that were skipped, reported instead of crashing.

    ``reason`` is a short code to count by (``duplicate_utterance``, ``unknown_label``, ...;
    ``SKIP_REASONS``); ``rows`` how many input rows the problem cost (a JSONL conversation
    skipped whole costs all its utterances)."""

    path: str
    line: int | None
    message: str
    reason: str = "invalid_row"
    rows: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line is not None else f"{self.path}: {self.message}"


@dataclass
class Corpus:
    """What a corpus reader returns: conversations plus what it found along the way."""

    name: str
    conversations: list[Conversation]
    label_sets: dict[str, LabelSet]  # task -> label set, e.g. {"emotion": MELD_EMOTION}
    problems: list[Problem] = field(default_factory=list)
    repaired_rows: int = 0
    repairs: dict[str, int] = field(default_factory=dict)  # repair kind -> rows (altsa.data.textfix)
    missing_media: list[str] = field(default_factory=list)  # utterance keys whose clip is absent
    rows_read: int | None = None  # input rows seen (CSV data rows, JSONL utterances); None: not counted
    columns: dict[str, str] = field(default_factory=dict)  # CSV formats: role -> the column(s) read
    ignored_files: int = 0  # a folder of clips: files that are not media (not utterances, not rows)
    ignored_keys: dict[str, int] = field(default_factory=dict)  # JSONL keys outside the format -> objects with it

    def utterances(self) -> Iterator[Utterance]:
        for conv in self.conversations:
            yield from conv.utterances

    @property
    def num_utterances(self) -> int:
        return sum(len(c) for c in self.conversations)

    def counts(self) -> dict[str, object]:
        """Rows read, kept and skipped (by reason): what every command that reads a corpus
        reports, so nothing is dropped silently. ``read == kept + skipped``."""
        by_reason: Counter[str] = Counter()
        for p in self.problems:
            by_reason[p.reason] += p.rows
        kept = self.num_utterances
        skipped = sum(by_reason.values())
        read = self.rows_read if self.rows_read is not None else kept + skipped
        out: dict[str, object] = {
            "read": read,
            "kept": kept,
            "skipped": skipped,
            "skipped_by_reason": dict(by_reason.most_common()),
        }
        if self.ignored_keys:  # read but not understood (a typo such as "label" for "labels")
            out["ignored_keys"] = dict(self.ignored_keys)
        return out
