"""A corpus in numbers: what ``altsa data inspect`` prints (also as ``--json``)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from altsa.data.schema import Corpus
from altsa.errors import DataError

PRIMARY_TASK = "emotion"
DEFAULT_MAX_SKIPPED = 0.01  # train / evaluate / extract stop when more rows than this are skipped


def primary_task(corpus: Corpus) -> str | None:
    """``emotion`` when the corpus has it, else its first task (None: unlabelled)."""
    if PRIMARY_TASK in corpus.label_sets:
        return PRIMARY_TASK
    return next(iter(corpus.label_sets), None)


def summarize(corpus: Corpus, *, top_speakers: int = 10) -> dict[str, Any]:
    """Counts for a report. ``labels`` is label -> count for the primary task, in label-set
    order with zeros kept; ``label_counts`` has every task."""
    utts = list(corpus.utterances())
    label_counts: dict[str, dict[str, int]] = {}
    unlabelled: dict[str, int] = {}
    for task, ls in corpus.label_sets.items():
        counts = Counter(u.labels[task] for u in utts if task in u.labels)
        label_counts[task] = {lab: counts.get(lab, 0) for lab in ls.labels}
        unlabelled[task] = sum(1 for u in utts if task not in u.labels)
    speakers = Counter(u.speaker for u in utts)
    task = primary_task(corpus)
    return {
        "name": corpus.name,
        "dialogues": len(corpus.conversations),
        "utterances": len(utts),
        "speakers": len(speakers),
        "top_speakers": dict(speakers.most_common(top_speakers)),
        "max_turns": max((len(c) for c in corpus.conversations), default=0),
        "primary_task": task,
        "labels": label_counts.get(task, {}) if task else {},
        "label_counts": label_counts,
        "unlabelled": unlabelled,
        "label_sets": {t: list(ls.labels) for t, ls in corpus.label_sets.items()},
        "repaired_rows": corpus.repaired_rows,
        "repairs": dict(corpus.repairs),
        "with_media": sum(1 for u in utts if u.media or u.audio or u.video),
        "with_span": sum(1 for u in utts if u.span is not None),
        "missing_media": list(corpus.missing_media),
        "rows": corpus.counts(),
        "columns": dict(corpus.columns),
        "ignored_files": corpus.ignored_files,
        "problems": [str(p) for p in corpus.problems],
    }


def describe_counts(counts: dict[str, Any]) -> str:
    """``read 10 rows, kept 8, skipped 2 (duplicate_utterance 1, unknown_label 1)``."""
    text = f"read {counts['read']:,} rows, kept {counts['kept']:,}, skipped {counts['skipped']:,}"
    if counts["skipped_by_reason"]:
        text += " (" + ", ".join(f"{r} {n:,}" for r, n in counts["skipped_by_reason"].items()) + ")"
    if counts.get("ignored_keys"):
        text += "; keys outside the format, ignored: " + ", ".join(f"{k!r} {n:,}" for k, n in counts["ignored_keys"].items())
    return text


def check_skipped(
    corpus: Corpus,
    max_fraction: float,
    *,
    path: Any = None,
    option: str = "--max-skipped-fraction",
    key: str | None = None,
) -> dict[str, Any]:
    """The corpus' row counts; ``DataError`` when the skipped share is above ``max_fraction``.

    The error names the first problems and the option that accepts them: a corpus read with
    the wrong column mapping (EmoryNLP with a per-episode scene id as the dialogue kept 6 %
    of its rows) must stop a run, not train on what happens to survive."""
    counts = corpus.counts()
    read, skipped = counts["read"], counts["skipped"]
    if read and skipped / read > max_fraction:
        first = "; ".join(str(p) for p in corpus.problems[:3])
        need = math.ceil(1000 * skipped / read) / 1000
        raise DataError(
            f"{corpus.name}: {skipped:,} of {read:,} rows skipped ({100 * skipped / read:.1f} %, above the "
            f"{100 * max_fraction:g} % limit): "
            + ", ".join(f"{r} {n:,}" for r, n in counts["skipped_by_reason"].items())
            + f". First: {first}. See them all with `altsa data inspect`; fix the data or its column mapping, "
            f"or accept them with {option} {need:g}" + (f" ({key} in a config)" if key else ""),
            path=path,
        )
    return counts
