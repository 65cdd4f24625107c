"""A corpus in numbers: what ``altsa data inspect`` prints (also as ``--json``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from altsa.data.schema import Corpus

PRIMARY_TASK = "emotion"


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
        "missing_media": list(corpus.missing_media),
        "problems": [str(p) for p in corpus.problems],
    }
