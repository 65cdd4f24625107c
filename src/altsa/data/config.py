"""The data section of an experiment: which corpus, in which format, read how.

Everything ``altsa data inspect`` can be told (format, column mapping, label set, clips
root, splits) is a field here, so ``extract``, ``train``, ``evaluate`` and ``predict`` read a
corpus exactly as ``inspect`` showed it. A new corpus is a few lines of YAML::

    data:
      corpus: csv                         # the format (altsa data list); auto: detected per file
      root: data/emodb                    # REQUIRED: the folder holding the split files
      splits: {train: train.csv, dev: dev.csv}
      columns: {dialogue: file, text: none, label: emotion, media: file}

``DataOptions`` holds the same settings as command-line options (``--format``, ``--mapping``,
``--dialogue-col`` ...), applied over a config's data section. See docs/data.md.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altsa.data.paths import input_path
from altsa.data.readers import (
    CORPORA,
    DEFAULT_MAX_SKIPPED,
    MAPPINGS,
    ROLES,
    ColumnMapping,
    check_skipped,
    detect_format,
    read_corpus,
)
from altsa.data.readers.csv import CsvReader
from altsa.data.schema import LABEL_SETS, Corpus, LabelSet
from altsa.errors import ConfigError, DataError

AUTO = "auto"


@dataclass
class ColumnsConfig:
    """Column mapping of the csv formats: role -> column name. Unset (null): the conventional
    column when the file has it (dialogue_id, speaker, text, label/emotion, media, audio,
    video, start, end); ``none``: no such column (``text: none`` for clips without transcripts)."""

    dialogue: str | None = None  # A+B joins columns: EmoryNLP's Season+Episode+Scene_ID
    order: str | None = None  # utterance order within the dialogue (default: file order)
    speaker: str | None = None
    text: str | None = None
    label: str | None = None  # feeds the task data.task
    media: str | None = None  # a clip holding audio and/or video; relative to data.clips, else the CSV's folder
    audio: str | None = None
    video: str | None = None
    start: str | None = None  # seconds into the media where the utterance starts (one recording per session)
    end: str | None = None  # seconds into the media where it ends
    delimiter: str | None = None  # default ","


@dataclass
class DataConfig:
    """Where the corpus is and how to read it. ``root`` has no default: a config names its data."""

    corpus: str = "meld"  # the format: a reader of `altsa data list` (meld, emorynlp, emorynlp-json, iemocap, dailydialog, csv, jsonl) or auto
    root: str | None = None  # REQUIRED: folder holding the split files (relative to the CWD)
    splits: dict[str, str | list[str]] = field(
        default_factory=lambda: {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv"}
    )  # split name -> file under root, or several files read as one split (sessions); `altsa train` reads train, dev
    clips: str | None = None  # media root (MELD: MELD.Raw, holding train_splits/, ...; csv/jsonl: relative paths)
    task: str = "emotion"  # the label task to learn ("emotion"; MELD also "sentiment")
    mapping: str | None = None  # a shipped column mapping (`altsa data list`), refined by columns
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    labels: str | list[str] | None = None  # label set: a known set's name or the labels (order = class index)
    label_aliases: dict[str, str] = field(default_factory=dict)  # a label in the files -> one of labels (exc: hap)
    max_skipped_fraction: float = DEFAULT_MAX_SKIPPED  # above this share of skipped rows, stop
    name_pattern: str | None = None  # clips: a regex searched in each file name; (?P<label>..) labels it, (?P<speaker>..)


@dataclass
class DataOptions:
    """Command-line options over a config's data section (None: keep the config's)."""

    format: str | None = None
    mapping: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # role -> column
    labels: str | None = None
    clips: str | None = None
    max_skipped_fraction: float | None = None
    name_pattern: str | None = None

    def explicit_format(self) -> bool:
        return self.format is not None or self.mapping is not None or bool(self.columns)

    def apply(self, data: DataConfig) -> DataConfig:
        cols = dataclasses.replace(data.columns, **self.columns)
        corpus = data.corpus
        if self.format is not None:
            corpus = self.format
        elif (self.mapping or self.columns) and corpus not in ("csv", "emorynlp"):
            corpus = "csv"  # a mapping option means a csv file, as in `altsa data inspect`
        return dataclasses.replace(
            data,
            corpus=corpus,
            mapping=self.mapping if self.mapping is not None else data.mapping,
            columns=cols,
            labels=self.labels if self.labels is not None else data.labels,
            clips=self.clips if self.clips is not None else data.clips,
            max_skipped_fraction=(self.max_skipped_fraction if self.max_skipped_fraction is not None
                                  else data.max_skipped_fraction),
            name_pattern=self.name_pattern if self.name_pattern is not None else data.name_pattern,
        )


def label_set(data: DataConfig) -> LabelSet | None:
    """The configured label set, with data.label_aliases (None: the reader's choice)."""
    spec = data.labels
    if spec is None:
        if data.label_aliases:
            raise ConfigError("data.label_aliases maps labels onto data.labels: name the labels too")
        return None
    if isinstance(spec, str) and spec.strip() in LABEL_SETS:
        known = LABEL_SETS[spec.strip()]
        if not data.label_aliases:
            return known
        spec = list(known.labels)
    if isinstance(spec, str):
        spec = spec.split(",")
    labels = tuple(s.strip() for s in spec if s.strip())
    if not labels:
        raise ConfigError("data.labels needs labels (a list, or 'a,b,c') or a known set: " + ", ".join(LABEL_SETS))
    by_fold = {lab.casefold(): lab for lab in labels}
    aliases = []
    for alias, target in data.label_aliases.items():
        if target.strip().casefold() not in by_fold:
            raise ConfigError(f"data.label_aliases: {alias!r} -> {target!r}, which is not one of data.labels "
                              f"({', '.join(labels)})")
        aliases.append((alias.strip(), by_fold[target.strip().casefold()]))
    return LabelSet(f"{data.task}-labels", labels, tuple(aliases))


def column_mapping(data: DataConfig, fmt: str | None) -> ColumnMapping | None:
    """The column mapping for a csv-family format: shipped preset (data.mapping, or the
    format's own) refined by data.columns; None for the other formats."""
    if fmt is None or not issubclass(CORPORA.get(fmt), CsvReader):
        if data.mapping or any(getattr(data.columns, r) for r in ROLES):
            raise ConfigError(
                f"data.mapping / data.columns apply to the csv formats (csv, emorynlp), not {fmt or 'auto'!r}; "
                "set data.corpus (or --format) to csv"
            )
        return None
    if data.mapping is not None:
        if data.mapping not in MAPPINGS:
            raise ConfigError(f"unknown mapping {data.mapping!r}; choose one of: {', '.join(sorted(MAPPINGS))}")
        base = MAPPINGS[data.mapping]
    else:
        base = CORPORA.get(fmt).default_mapping or ColumnMapping()
    cols = {r: getattr(data.columns, r) for r in ROLES if getattr(data.columns, r) is not None}
    if data.columns.delimiter is not None:
        cols["delimiter"] = data.columns.delimiter
    return dataclasses.replace(base.with_overrides(**cols), task=data.task)


def _format(data: DataConfig, path: Path) -> str:
    return detect_format(path) if data.corpus in (AUTO, "") else data.corpus


def read_file(path: str | Path, data: DataConfig, *, split: str | None = None, strict: bool = False,
              labels: LabelSet | None = None, only: list[Path] | None = None) -> Corpus:
    """Read one corpus file as ``data`` says (format, mapping, label set, clips).
    ``labels`` (a trained run's set) replaces data.labels: rows outside it are skipped."""
    path = input_path(path)  # an empty path is an error, not the current folder
    fmt = _format(data, path)
    CORPORA.get(fmt)  # an unknown format fails here, naming the choices
    ls = labels or label_set(data)
    if fmt == "meld" and ls is not None and ls.name.startswith("meld-"):
        ls = None  # MELD's sets are fixed; a MELD run's own set is one of them
    if data.name_pattern is not None and fmt != "clips":
        raise ConfigError(f"data.name_pattern labels clips from their file names; {path} is read as {fmt!r} "
                          "(set data.corpus, or --format, to clips)")
    return read_corpus(path, format=fmt, clips=data.clips, strict=strict, mapping=column_mapping(data, fmt),
                       label_set=ls, split=split, task=data.task, name_pattern=data.name_pattern, only=only)


def split_files(data: DataConfig, split: str) -> list[Path]:
    """The file(s) of ``split`` under data.root; ``ConfigError`` naming the key when unset."""
    if not data.root:
        raise ConfigError(
            "data.root is not set: name the folder holding the split files (data.root=DIR, or --data DIR)"
        )
    if split not in data.splits:
        raise ConfigError(f"data.splits has no {split!r} split (has: {', '.join(data.splits) or 'none'})")
    files = data.splits[split]
    names = [files] if isinstance(files, str) else list(files)
    if not names:
        raise ConfigError(f"data.splits.{split} names no file")
    out: list[Path] = []
    named: dict[str, str] = {}  # the file's absolute path -> the entry that named it
    for name in names:
        if not str(name).strip():
            raise ConfigError(f"data.splits.{split} has an empty entry (name a file, a folder or a pattern; "
                              "'.' is data.root itself)")
        literal = Path(data.root) / name
        if not any(c in name for c in "*?[") or os.path.lexists(literal):  # train [v2].csv is a name
            found = [literal]
        else:
            # a pattern: the matching files and folders under root (a speaker's clips: 03*.wav);
            # glob.glob, unlike Path.glob, takes an absolute pattern too and skips hidden files
            found = sorted(Path(p) for p in glob.glob(os.path.join(glob.escape(data.root), name), recursive=True))
            if not found:
                raise DataError(f"data.splits.{split}: {name!r} matches nothing under {data.root}", path=data.root)
        for path in found:
            key = os.path.abspath(path)
            if key in named:
                raise ConfigError(f"data.splits.{split} names {path} twice ({named[key]!r} and {name!r})")
            named[key] = name
        out += found
    return out


def split_path(data: DataConfig, split: str) -> str:
    """The split's file(s) as the config names them (a pattern stays a pattern), for messages
    and reports."""
    split_files(data, split)  # the same errors for an unset root or split
    files = data.splits[split]
    return " + ".join(str(Path(data.root) / name) for name in ([files] if isinstance(files, str) else files))


def read_split(data: DataConfig, split: str, *, labels: LabelSet | None = None, check: bool = True) -> Corpus:
    """One split of the config's corpus (several files: one corpus, e.g. IEMOCAP's sessions);
    with ``check``, ``DataError`` when more than data.max_skipped_fraction of its rows were skipped."""
    files = split_files(data, split)
    if _format(data, files[0]) == "clips" and Path(data.root).is_dir():
        # clips and folders of clips: one corpus of the root folder's entries, each clip named
        # from the root, however many entries the split has
        corpus = read_file(Path(data.root), data, split=split, labels=labels, only=files)
    else:
        parts = [read_file(path, data, split=split, labels=labels) for path in files]
        corpus = parts[0] if len(parts) == 1 else concat(parts, split, files)
    if check:
        check_skipped(corpus, data.max_skipped_fraction, path=files[0] if len(files) == 1 else None,
                      key="data.max_skipped_fraction")
    return corpus


def concat(parts: list[Corpus], name: str, files: list[Path]) -> Corpus:
    """Corpora of several files as one. Dialogue ids must be unique across them (utterance keys
    identify features); each task gets one label set holding every file's labels."""
    seen: dict[str, Path] = {}
    for corpus, path in zip(parts, files):
        for conv in corpus.conversations:
            if conv.dialogue_id in seen:
                raise DataError(
                    f"dialogue {conv.dialogue_id!r} is also in {seen[conv.dialogue_id]}: dialogue ids must be unique "
                    "across a split's files (join columns for the dialogue: data.columns.dialogue=Session+Dialogue)",
                    path=path,
                )
            seen[conv.dialogue_id] = path
    label_sets: dict[str, LabelSet] = {}
    for task in dict.fromkeys(t for c in parts for t in c.label_sets):
        sets = {c.label_sets[task] for c in parts if task in c.label_sets}
        if len(sets) == 1:
            label_sets[task] = sets.pop()
        else:
            from altsa.data.readers._base import choose_label_set

            label_sets[task] = choose_label_set(task, {lab for ls in sets for lab in ls.labels}, name)
    out = Corpus(
        name=name,
        conversations=[conv for c in parts for conv in c.conversations],
        label_sets=label_sets,
        problems=[p for c in parts for p in c.problems],
        repaired_rows=sum(c.repaired_rows for c in parts),
        repairs={k: sum(c.repairs.get(k, 0) for c in parts) for k in sorted({k for c in parts for k in c.repairs})},
        missing_media=[k for c in parts for k in c.missing_media],
        ignored_keys=dict(sum((Counter(c.ignored_keys) for c in parts), Counter())),
        rows_read=sum(c.counts()["read"] for c in parts),
        columns=parts[0].columns,
    )
    for u in out.utterances():
        u.labels = {t: out.label_sets[t].canonical(lab) if t in out.label_sets else lab for t, lab in u.labels.items()}
    return out


def for_input(path: str | Path, run_data: DataConfig | None, opts: DataOptions) -> DataConfig:
    """How to read a file given to ``evaluate`` or ``predict``: the command-line options, over
    the run's own data section when the file is of the run's kind.

    A self-describing file (JSONL, MELD's or EmoryNLP's header) is read as what it is; any
    other file as the run was trained (its format and column mapping), so a model trained on
    a clips CSV evaluates another CSV of that layout with no options at all."""
    base = run_data if run_data is not None else DataConfig(corpus=AUTO)
    base = dataclasses.replace(base, root=None)
    if opts.format is None and not (opts.mapping or opts.columns):
        try:
            detected: str | None = detect_format(path)
        except DataError as err:
            if not Path(path).is_file() or "cannot tell" not in err.message:
                raise
            detected = None
        run_fmt = None if base.corpus in (AUTO, "") else base.corpus
        csv_family = ("csv", "emorynlp")
        if detected is not None and not (detected in csv_family and run_fmt in csv_family):
            if detected != run_fmt:
                base = dataclasses.replace(base, corpus=detected, mapping=None, columns=ColumnsConfig(), labels=None,
                                           label_aliases={}, name_pattern=None)
        elif detected is None and run_fmt is None:
            detect_format(path)  # raises its "cannot tell the corpus format" error
    data = opts.apply(base)
    if opts.name_pattern is None and data.corpus not in ("clips", AUTO, ""):
        # the run's pattern labelled clips by their names; a file of another format labels its own rows
        data = dataclasses.replace(data, name_pattern=None)
    return data


def describe(data: DataConfig) -> dict[str, Any]:
    """The reading settings, for reports."""
    return {"format": data.corpus, "mapping": data.mapping,
            "columns": {k: v for k, v in dataclasses.asdict(data.columns).items() if v is not None},
            "labels": data.labels, "label_aliases": data.label_aliases, "clips": data.clips,
            **({"name_pattern": data.name_pattern} if data.name_pattern is not None else {})}
