"""What every corpus reader shares: the registry, options, problem log, row assembly.

A reader turns one file into a ``Corpus``. Per-row problems (unknown label, empty text,
duplicate position, malformed row) go through ``ProblemLog``: skipped and reported by
default, raised as ``DataError(path, line)`` in strict mode. File-level problems (missing,
unreadable, not UTF-8, missing required column) always raise.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from altsa.data.paths import input_path, is_regular_file, shown
from altsa.data.schema import (
    EMORYNLP_EMOTION,
    MELD_EMOTION,
    MELD_SENTIMENT,
    Conversation,
    Corpus,
    LabelSet,
    Problem,
    Utterance,
    parse_seconds,
    span_problem,
)
from altsa.data.textfix import repair_text
from altsa.errors import DataError
from altsa.registry import Registry


class CorpusReader:
    """A corpus format. Subclasses set ``name``/``description`` and implement ``read``."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line, printed by ``altsa data list``

    def read(self, path: Path, opts: ReadOptions) -> Corpus:
        raise NotImplementedError


CORPORA: Registry[type[CorpusReader]] = Registry("corpus format")


NO_COLUMN = "none"  # a role set to this has no column (``text: none``: a corpus of clips)
ROLES = ("dialogue", "order", "speaker", "text", "label", "media", "audio", "video", "start", "end")
# Column names a role takes when the mapping does not name one and the file has them.
CONVENTIONAL: dict[str, tuple[str, ...]] = {
    "dialogue": ("dialogue_id",),
    "speaker": ("speaker",),
    "text": ("text",),
    "label": ("label", "emotion"),
    "media": ("media",),
    "audio": ("audio",),
    "video": ("video",),
    "start": ("start",),
    "end": ("end",),
}
MEDIA_ROLES = ("media", "audio", "video")


@dataclass(frozen=True)
class ColumnMapping:
    """Which CSV column holds what, so a corpus loads without code.

    Each role names a column; ``dialogue`` may join several (``Season+Episode+Scene_ID``).
    A role left ``None`` takes its conventional column when the file has one (``dialogue_id``,
    ``speaker``, ``text``, ``label`` or ``emotion``, ``media``, ``audio``, ``video``, ``start``,
    ``end``; ``order`` has none: file order within the dialogue); ``"none"`` means no column (``text: none``
    for a corpus of clips, ``dialogue: none`` for one conversation per row). A column the
    mapping names must exist. Every utterance needs text or a media path. Columns not mapped
    are kept in ``Utterance.meta``.
    """

    dialogue: str | None = None
    speaker: str | None = None
    text: str | None = None
    order: str | None = None
    label: str | None = None
    media: str | None = None  # one clip holding audio and/or video
    audio: str | None = None  # a separate audio file
    video: str | None = None  # a separate video file
    start: str | None = None  # seconds into the media where the utterance starts (one recording, many utterances)
    end: str | None = None  # seconds into the media where it ends
    task: str = "emotion"  # the task name the label column feeds (``Utterance.labels[task]``)
    label_set: LabelSet | None = None  # None: inferred from the file (see ``choose_label_set``)
    delimiter: str = ","

    def columns(self) -> dict[str, str]:
        """Role -> column name, for the roles the mapping names."""
        return {role: getattr(self, role) for role in ROLES if getattr(self, role)}

    def with_overrides(self, **columns: Any) -> ColumnMapping:
        """A copy with the given (non-None) fields replaced: CLI options over a preset."""
        return replace(self, **{k: v for k, v in columns.items() if v is not None})

    def resolve(self, header: list[str], path: Path) -> dict[str, list[int]]:
        """Role -> column positions in ``header`` (several for a composite dialogue); roles
        without a column are left out. A named column missing from the file is fatal."""
        named: dict[str, str] = {}
        for role in ROLES:
            col = getattr(self, role)
            if col and col.strip().casefold() != NO_COLUMN:
                for k, part in enumerate(col.split("+") if role == "dialogue" else [col]):
                    named[f"{role}:{k}"] = part.strip()
            elif col is None:
                present = {h.casefold() for h in header}
                found = next((c for c in CONVENTIONAL.get(role, ()) if c in present), None)
                if found is not None:
                    named[f"{role}:0"] = found
        index = column_index(header, named, path)
        out: dict[str, list[int]] = {}
        for key, i in index.items():
            out.setdefault(key.split(":")[0], []).append(i)
        missing = []
        if "dialogue" not in out and (self.dialogue or "").strip().casefold() != NO_COLUMN:
            missing.append("'dialogue_id' (dialogue; name it with --dialogue-col / data.columns.dialogue, A+B joins "
                           "columns, none: one conversation per row)")
        if "text" not in out and not any(r in out for r in MEDIA_ROLES):
            missing.append("'text' (text; or name a media, audio or video column: an utterance needs one)")
        if missing:
            what = "column" if len(missing) == 1 else "columns"
            raise DataError(one_line(f"missing required {what} {', '.join(missing)}; the file has {_shown(header)}"),
                            path=path, line=1)
        return out

    def names(self, header: list[str], index: dict[str, list[int]]) -> dict[str, str]:
        """Role -> the column(s) ``resolve`` chose, for reports (``"none"`` when unmapped)."""
        out = {}
        for role in ROLES:
            cols = index.get(role)
            out[role] = "+".join(header[i] for i in cols) if cols else NO_COLUMN
        return out


# Shipped mappings (``--mapping NAME``). EmoryNLP as published (Zahiri & Choi 2018; the copy in
# the MELD authors' repository): Scene_ID restarts in every episode, so a dialogue is
# Season+Episode+Scene_ID; Speaker holds a list literal (``['Rachel Green']``).
MAPPINGS: dict[str, ColumnMapping] = {
    "emorynlp": ColumnMapping(
        dialogue="Season+Episode+Scene_ID",
        order="Utterance_ID",
        speaker="Speaker",
        text="Utterance",
        label="Emotion",
        media=NO_COLUMN,
        audio=NO_COLUMN,
        video=NO_COLUMN,
        label_set=EMORYNLP_EMOTION,
    ),
}


@dataclass
class ReadOptions:
    strict: bool = False
    clips: Path | None = None  # media root (MELD: holds the split folders)
    mapping: ColumnMapping | None = None
    label_set: LabelSet | None = None  # for ``task``; overrides the mapping's
    split: str | None = None  # MELD: train | dev | test (default: from the file name)
    task: str = "emotion"  # the task ``label_set`` is for (JSONL; a mapping names its own)
    name_pattern: re.Pattern[str] | None = None  # clips: label (and speaker) from each file's name
    only: tuple[Path, ...] | None = None  # clips: these files and folders of the folder read (a split)


_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """``text`` with line breaks escaped: error messages quote file content and must stay
    on one line."""
    return text.translate(_LINE_BREAKS)


# Why rows are skipped (``Problem.reason``): the keys of ``Corpus.counts()["skipped_by_reason"]``.
SKIP_REASONS: dict[str, str] = {
    "malformed_row": "bad CSV quoting or a wrong number of fields",
    "empty_dialogue_id": "no dialogue id",
    "bad_order": "the order column is not an integer",
    "empty_text": "no text and no media path",
    "empty_label": "the label column is empty",
    "unknown_label": "a label outside the label set",
    "duplicate_utterance": "a second row for the same (dialogue, position)",
    "invalid_json": "a JSONL line that is not JSON",
    "invalid_conversation": "a JSONL conversation without a usable dialogue id or utterance list",
    "duplicate_dialogue": "a JSONL dialogue id seen before",
    "invalid_field": "a JSONL field of the wrong type",
    "bad_span": "a start/end time that is not a time, negative, or an end not after the start",
    "duplicate_key": "a JSONL object naming the same key twice (which value is meant?)",
    "conflicting_label": "a JSONL label given twice with different values ('emotion' and 'labels.emotion')",
    "no_transcript": "an IEMOCAP turn with no line in its dialog's transcription file",
    "name_unmatched": "a clip whose file name the name pattern does not match (no label in it)",
}


def name_pattern(text: str | None) -> re.Pattern[str] | None:
    """``data.name_pattern`` compiled: a regular expression searched in each clip's file name,
    with a ``label`` group (and optionally ``speaker``); ``ConfigError`` when it is not one."""
    if text is None:
        return None
    from altsa.errors import ConfigError

    key = "data.name_pattern (--name-pattern)"  # the same check for the config key and the option
    try:
        pattern = re.compile(text)
    except re.error as err:
        raise ConfigError(f"{key} {text!r} is not a regular expression: {err}") from None
    if "label" not in pattern.groupindex:
        raise ConfigError(f"{key} {text!r} needs a (?P<label>...) group: the part of the file name that is the label")
    unknown = set(pattern.groupindex) - {"label", "speaker"}
    if unknown:
        raise ConfigError(f"{key}: unknown group(s) {', '.join(sorted(unknown))}; the groups are label and speaker")
    return pattern


class ProblemLog:
    """Skip-and-report (default) or raise-on-first (strict) for per-row problems; counts the
    rows read, so a corpus can say how many it read, kept and skipped."""

    def __init__(self, path: Path, strict: bool):
        self.path = path
        self.strict = strict
        self.problems: list[Problem] = []
        self.rows_read = 0

    def report(self, line: int | None, message: str, reason: str, rows: int = 1, *, path: Path | None = None) -> None:
        """``rows`` input rows skipped for ``reason`` (a ``SKIP_REASONS`` key); ``path``: the
        file the line is in, when a corpus is several files (IEMOCAP's folders)."""
        message = one_line(message)
        where = path if path is not None else self.path
        if self.strict:
            raise DataError(message, path=where, line=line)
        self.problems.append(Problem(str(where), line, message, reason, rows))


class Repairs:
    """Counts rows whose fields ``textfix`` changed, in total and per kind of repair.
    Only rows that make it into the corpus are counted (``keep`` after validation)."""

    def __init__(self) -> None:
        self.rows = 0
        self.kinds: Counter[str] = Counter()

    @staticmethod
    def fix(values: Iterable[str]) -> tuple[list[str], frozenset[str]]:
        out, kinds = [], frozenset()
        for value in values:
            fixed, k = repair_text(value)
            out.append(fixed)
            kinds |= k
        return out, kinds

    def keep(self, kinds: frozenset[str]) -> None:
        if kinds:
            self.rows += 1
            self.kinds.update(kinds)


# leading bytes of common media containers -> what to call the file in a message
_MEDIA_MAGIC = ((b"RIFF", 8, b"WAVE", "WAVE audio"), (b"RIFF", 8, b"AVI ", "an AVI video"), (b"fLaC", 0, b"", "FLAC audio"),
                (b"OggS", 0, b"", "Ogg media"), (b"ID3", 0, b"", "MP3 audio"), (b"\x1aE\xdf\xa3", 0, b"", "Matroska/WebM media"),
                (b"", 4, b"ftyp", "an MP4/MOV file"))


def media_signature(head: bytes) -> str | None:
    """What media container ``head`` (a file's first bytes) starts, or None."""
    for lead, at, mark, name in _MEDIA_MAGIC:
        if head.startswith(lead) and (not mark or head[at : at + len(mark)] == mark):
            return name
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame (MP3 without tags)
        return "MPEG audio"
    return None


def physical_lines(text: str) -> list[str]:
    """``text``'s lines as a line-numbering reader means them: split on newlines only
    (``str.splitlines`` also splits on U+0085, a form feed or a lone CR inside a line, which
    shifts every later line number and, in files that pair line by line, every later label), a
    CR before the newline dropped, no empty last line for a final newline."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_bytes(path: Path, limit: int = -1) -> bytes:
    """The file's bytes (the first ``limit`` of them when given); ``DataError`` (fatal) when
    missing, not a regular file (a folder; a pipe, which would block) or unreadable."""
    input_path(path, folders=False)
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except FileNotFoundError:  # gone since it was looked at
        raise DataError("file not found", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path=path) from None


def read_text(path: Path) -> str:
    """The whole file as text; ``DataError`` (fatal) when it cannot be read (``read_bytes``)
    or is not UTF-8."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        kind = media_signature(data[:16])
        if kind:  # a clip or recording under a name without a media extension
            raise DataError(f"this is {kind}, not a corpus file; give it its media extension (e.g. .wav, .mp4) or "
                            "read it as a clip: --format clips", path=path) from None
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save the file as UTF-8",
            path=path,
            line=line,
        ) from None


@dataclass
class CsvTable:
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (physical line of the row's first line, fields)


# csv's default cap on one field (128 KiB) refused a long transcript the JSONL reader takes;
# a whole file is in memory already, so the cap only has to stop the absurd
CSV_FIELD_LIMIT = 16 * 1024 * 1024


def open_csv(path: Path, text: str, log: ProblemLog, delimiter: str = ",") -> CsvTable:
    """Parse the header and yield rows with their physical line numbers.

    ``csv.reader.line_num`` counts physical lines read so far, so a row's first line is
    ``line_num`` before reading it plus one (quoted fields may span lines). A malformed
    row (bad quoting) is a row problem; a malformed header is fatal.
    """
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)  # process-wide; only ever raised
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def header_row() -> list[str] | None:
        try:
            return next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise DataError(f"malformed CSV header: {exc}", path=path, line=reader.line_num or 1) from None

    start = 1
    header = header_row()
    while header is not None and not any(h.strip() for h in header):
        start = reader.line_num + 1
        header = header_row()
    if header is None:
        raise DataError("empty file: no header row", path=path, line=1)
    header = [h.strip() for h in header]
    check_unique(header, path, start)

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                msg = "unterminated quoted field" if "end of data" in str(exc) else str(exc)
                log.rows_read += 1
                log.report(start, f"malformed CSV row: {msg}", "malformed_row")
                if reader.line_num < start:  # nothing consumed: stop rather than loop
                    return
                continue
            if row and any(cell.strip() for cell in row):
                log.rows_read += 1
                yield start, row

    return CsvTable(header, rows())


def check_unique(header: list[str], path: Path, line: int = 1) -> None:
    """A column name given twice is fatal: a reader would take one of the two columns and
    drop the other without a word. Unnamed (empty) columns are never read and may repeat."""
    where: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        if name:
            where.setdefault(name, []).append(i + 1)
    dups = {name: cols for name, cols in where.items() if len(cols) > 1}
    if dups:
        what = "column name" if len(dups) == 1 else "column names"
        named = "; ".join(f"{shown(name)!r} (columns {', '.join(map(str, cols))})" for name, cols in dups.items())
        raise DataError(one_line(f"duplicate {what} in the header: {named}; give each column its own name"),
                        path=path, line=line)


def column_index(header: list[str], columns: dict[str, str], path: Path) -> dict[str, int]:
    """Role -> column position; a missing column is fatal (exact name, then case-insensitive,
    which must then match one column only)."""
    exact: dict[str, int] = {}
    folded: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        exact.setdefault(name, i)
        folded.setdefault(name.casefold(), []).append(i)
    index, missing, ambiguous = {}, [], []
    for role, col in columns.items():
        i = exact.get(col.strip())
        if i is None:
            found = folded.get(col.strip().casefold(), [])
            if len(found) > 1:
                ambiguous.append(f"{col!r} ({role.split(':')[0]}) matches {', '.join(repr(header[j]) for j in found)}")
                continue
            i = found[0] if found else None
        if i is None:
            missing.append(f"{col!r} ({role.split(':')[0]})")
        else:
            index[role] = i
    if missing:
        what = "column" if len(missing) == 1 else "columns"
        msg = f"missing required {what} {', '.join(missing)}; the file has {_shown(header)}"
        raise DataError(one_line(msg), path=path, line=1)
    if ambiguous:
        msg = f"column names that differ only in case: {'; '.join(ambiguous)}; name the column exactly"
        raise DataError(one_line(msg), path=path, line=1)
    return index


def _shown(header: list[str]) -> str:
    """The header for a message: how many columns, and their names cut to ``SHOWN_CHARS``
    (a file that is not CSV has its whole first line as one column name)."""
    names = ", ".join(header) if len(header) <= 20 else ", ".join(header[:20]) + ", ..."
    return f"{len(header):,} column{'s' if len(header) != 1 else ''}: {shown(names)}"


class Dialogues:
    """Utterances grouped by dialogue; a duplicate (dialogue, position) is a problem."""

    def __init__(self, log: ProblemLog):
        self.log = log
        self._by_id: dict[str, dict[int, tuple[Utterance, int | None]]] = {}

    def add(self, utt: Utterance, line: int | None) -> bool:
        turns = self._by_id.setdefault(utt.dialogue_id, {})
        if utt.position in turns:
            first = turns[utt.position][1]
            where = f" (first at line {first})" if first is not None else ""
            self.log.report(
                line,
                f"duplicate utterance: dialogue {shown(repr(utt.dialogue_id))} position {utt.position}{where}",
                "duplicate_utterance",
            )
            return False
        turns[utt.position] = (utt, line)
        return True

    def open(self, dialogue_id: str) -> None:
        self._by_id.setdefault(dialogue_id, {})

    def __contains__(self, dialogue_id: object) -> bool:
        return dialogue_id in self._by_id

    def next_position(self, dialogue_id: str) -> int:
        turns = self._by_id.get(dialogue_id)
        return max(turns) + 1 if turns else 0

    def utterances(self) -> Iterator[Utterance]:
        for turns in self._by_id.values():
            for utt, _ in turns.values():
                yield utt

    def conversations(self, *, numeric_order: bool = False) -> list[Conversation]:
        """Conversations in order of first appearance (numeric id order when asked and
        every id is an integer, as MELD's Dialogue_IDs are)."""
        ids = [d for d, turns in self._by_id.items() if turns]
        if numeric_order and all(_is_int(d) for d in ids):
            ids.sort(key=int)
        return [Conversation(d, [u for u, _ in self._by_id[d].values()]) for d in ids]


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def parse_position(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


# Known label sets per task, tried in order when a file's labels are not given.
KNOWN_LABEL_SETS: dict[str, tuple[LabelSet, ...]] = {
    "emotion": (MELD_EMOTION, EMORYNLP_EMOTION),
    "sentiment": (MELD_SENTIMENT,),
}


def choose_label_set(task: str, seen: Iterable[str], corpus_name: str) -> LabelSet:
    """The first known set for ``task`` holding every label seen, else one inferred from
    them (sorted, so stable across files holding the same labels)."""
    seen = {s for s in seen if s.strip()}
    for ls in KNOWN_LABEL_SETS.get(task, ()):
        if seen and all(s in ls for s in seen):
            return ls
    if not seen:
        raise DataError(f"no labels for task {task!r} to build a label set from", path=corpus_name)
    return LabelSet.infer(f"{corpus_name}-{task}", seen)


def settle_labels(utterances: Iterable[Utterance], task: str, given: LabelSet | None, corpus_name: str
                  ) -> dict[str, LabelSet]:
    """``{task: set}`` for the labelled utterances (``given``, else ``choose_label_set``), their
    labels made canonical in place; empty when none is labelled."""
    labelled = [u for u in utterances if task in u.labels]
    if not labelled:
        return {}
    ls = given or choose_label_set(task, {u.labels[task] for u in labelled}, corpus_name)
    for u in labelled:
        u.labels[task] = ls.canonical(u.labels[task])
    return {task: ls}


def parse_span(start: object, end: object) -> tuple[float | None, float | None]:
    """``(start, end)`` seconds from a row's fields (numbers, ``12.5``, ``0:12.5``; empty: none);
    ``ValueError`` with a one-line message when they cannot be a span of a media file."""
    values = []
    for name, value in (("start", start), ("end", end)):
        try:
            values.append(parse_seconds(value))
        except ValueError:
            raise ValueError(f"{name} {shown(repr(value))} is not a time in seconds") from None
    problem = span_problem(values[0], values[1])
    if problem:
        raise ValueError(problem)
    return values[0], values[1]


def media_path(path_str: str | None, root: Path) -> str | None:
    """An absolute media path: relative paths are taken from ``root``. A path the system cannot
    resolve (a NUL byte, a symlink loop) is joined as written: it is then a missing clip
    (``Corpus.missing_media``, ``missing_file`` when decoded), not a crash."""
    if not path_str:
        return None
    p = Path(path_str)
    if p.is_absolute():
        return str(p)
    try:
        return str((root / p).resolve())
    except (OSError, ValueError, RuntimeError):  # NUL byte; RuntimeError: symlink loop
        return os.path.normpath(os.path.join(root, path_str))


def finish(
    name: str,
    dialogues: Dialogues,
    log: ProblemLog,
    repairs: Repairs,
    label_sets: dict[str, LabelSet],
    *,
    numeric_order: bool = False,
) -> Corpus:
    convs = dialogues.conversations(numeric_order=numeric_order)
    missing = [
        u.key
        for c in convs
        for u in c.utterances
        if any(p is not None and not is_regular_file(p) for p in (u.media, u.audio, u.video))
    ]
    return Corpus(
        name=name,
        conversations=convs,
        label_sets=label_sets,
        problems=log.problems,
        repaired_rows=repairs.rows,
        repairs=dict(sorted(repairs.kinds.items())),
        missing_media=missing,
        rows_read=log.rows_read,
    )

