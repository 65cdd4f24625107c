"""Corpus readers: one registry of formats, one entry point.

    corpus = read_corpus("../shared/data/meld/dev_sent_emo.csv")          # format detected
    corpus = read_corpus("emory_dev.csv", format="emorynlp")
    corpus = read_corpus("mine.csv", mapping=ColumnMapping(dialogue="conv", text="utt", ...))
    write_jsonl(corpus, "dev.jsonl")

``CORPORA.names()`` lists the formats (``altsa data list``). Default mode skips bad rows
and reports them in ``Corpus.problems``; ``strict=True`` raises ``DataError(path, line)``
on the first one. Missing/unreadable/non-UTF-8 files and missing required columns always
raise. See ``docs/data.md``.
"""

from __future__ import annotations

import csv as _csv
import io
from collections.abc import Sequence
from pathlib import Path

from altsa.data.paths import input_path, named_path, path_kind
from altsa.data.readers import clips as _clips  # noqa: F401  (registers clips)
from altsa.data.readers import csv as _csv_reader  # noqa: F401  (registers csv, emorynlp)
from altsa.data.readers import dailydialog as _dailydialog  # noqa: F401  (registers dailydialog)
from altsa.data.readers import emorynlp_json as _emorynlp_json  # noqa: F401  (registers emorynlp-json)
from altsa.data.readers import iemocap as _iemocap  # noqa: F401  (registers iemocap)
from altsa.data.readers import jsonl as _jsonl  # noqa: F401  (registers jsonl)
from altsa.data.readers import meld as _meld  # noqa: F401  (registers meld)
from altsa.data.readers._base import (
    CORPORA,
    MAPPINGS,
    NO_COLUMN,
    ROLES,
    SKIP_REASONS,
    ColumnMapping,
    CorpusReader,
    ReadOptions,
    read_bytes,
)
from altsa.data.readers._base import name_pattern as compile_name_pattern
from altsa.data.readers.csv import parse_speaker
from altsa.data.readers.jsonl import conversation_to_dict, parse_conversation, write_jsonl
from altsa.data.readers.summary import DEFAULT_MAX_SKIPPED, check_skipped, describe_counts, summarize
from altsa.data.schema import LABEL_SETS, Corpus, LabelSet
from altsa.errors import DataError

_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_EMORYNLP_COLUMNS = {"Utterance", "Speaker", "Emotion", "Scene_ID", "Utterance_ID"}


def detect_format(path: str | Path) -> str:
    """``iemocap`` for an IEMOCAP session or release folder, ``clips`` for another folder or a
    media file; ``jsonl`` by suffix or a leading ``{`` (EmoryNLP's
    own JSON, ``emorynlp-json``, by its ``episodes`` over several lines); ``meld``/``emorynlp``
    by their header. ``DataError`` for an empty path and, unless the
    suffix says JSONL, for a missing path or anything but a regular file or a folder (a pipe
    would block the read)."""
    path = named_path(path)
    kind, _ = path_kind(path)
    if kind == "dir" and _iemocap.session_folders(path):
        return "iemocap"
    if kind == "dir" or (kind == "file" and _clips.is_media_file(path)):
        return "clips"
    if path.suffix.casefold() in _JSONL_SUFFIXES:
        return "jsonl"  # by name alone: reading it checks the file
    head = read_bytes(path, 65536)  # missing, a pipe (open would block), unreadable: the error
    text = head.decode("utf-8-sig", errors="replace")
    if text.lstrip().startswith("{"):
        return "emorynlp-json" if _emorynlp_json.looks_like(text) else "jsonl"
    if _dailydialog.looks_like(path, text):
        return "dailydialog"
    first = text.splitlines()[0] if text.strip() else ""
    try:
        header = {h.strip() for h in next(_csv.reader(io.StringIO(first)), [])}
    except _csv.Error:
        header = set()
    if set(_meld.REQUIRED.values()) <= header:
        return "meld"
    if _EMORYNLP_COLUMNS <= header:
        return "emorynlp"
    raise DataError(
        "cannot tell the corpus format (not MELD or EmoryNLP columns, not JSONL, not a media file); pass a format "
        "(altsa data list) and, for csv, a column mapping",
        path=path,
    )


def parse_labels(spec: str) -> LabelSet:
    """A label set from ``a,b,c`` (that order fixes the class index) or a known set's name."""
    spec = spec.strip()
    if spec in LABEL_SETS:
        return LABEL_SETS[spec]
    labels = tuple(lab.strip() for lab in spec.split(",") if lab.strip())
    if not labels:
        raise DataError("--labels needs comma-separated labels or a known set: " + ", ".join(LABEL_SETS))
    return LabelSet("custom", labels)


def read_corpus(
    path: str | Path,
    *,
    format: str | None = None,
    clips: str | Path | None = None,
    strict: bool = False,
    mapping: ColumnMapping | None = None,
    label_set: LabelSet | None = None,
    split: str | None = None,
    task: str = "emotion",
    name_pattern: str | None = None,
    only: Sequence[str | Path] | None = None,
) -> Corpus:
    """Read a corpus file into conversations (see the module docstring). ``label_set`` is the
    set of ``task``'s labels (a label outside it: the row is skipped and reported).
    ``path`` must be a regular file, or a folder for the clips format (``DataError`` otherwise:
    an empty path is not the current folder, and a pipe would block the read)."""
    path = input_path(path)
    if format is None:
        format = "csv" if mapping is not None else detect_format(path)
    reader_cls = CORPORA.get(format)
    if mapping is not None and not issubclass(reader_cls, _csv_reader.CsvReader):
        raise DataError(f"a column mapping applies to the csv formats, not {format!r}", path=path)
    if name_pattern is not None and format != "clips":
        raise DataError(f"a name pattern labels clips from their file names; it does not apply to {format!r}",
                        path=path)
    if only is not None and not (format == "clips" and path.is_dir()):
        raise DataError("only (some files of a folder) applies to a folder read as clips", path=path)
    opts = ReadOptions(
        strict=strict,
        clips=Path(clips) if clips is not None else None,
        mapping=mapping,
        label_set=label_set,
        split=split,
        task=task,
        name_pattern=compile_name_pattern(name_pattern),
        only=tuple(Path(p) for p in only) if only is not None else None,
    )
    return reader_cls().read(path, opts)


__all__ = [
    "CORPORA",
    "DEFAULT_MAX_SKIPPED",
    "MAPPINGS",
    "NO_COLUMN",
    "ROLES",
    "SKIP_REASONS",
    "check_skipped",
    "describe_counts",
    "ColumnMapping",
    "CorpusReader",
    "ReadOptions",
    "conversation_to_dict",
    "detect_format",
    "parse_conversation",
    "parse_labels",
    "parse_speaker",
    "read_corpus",
    "summarize",
    "write_jsonl",
]
