"""Classification metrics for emotion recognition in conversation, all in percent.

Weighted F1 is the headline (the MELD literature reports it; see the spec's evaluation
section); macro F1 shows what the frequent ``neutral`` class hides. Both come from
scikit-learn with ``labels=range(len(labels))`` and ``zero_division=0``, so a class that is
never predicted scores 0 instead of raising, and macro F1 averages over every class of the
label set (a class absent from both ``y_true`` and ``y_pred`` counts as 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


@dataclass
class Metrics:
    """Scores of one evaluation. F1s and accuracy in 0-100; ``confusion[i][j]`` counts
    utterances of true class ``i`` predicted as ``j`` (every label, even if absent)."""

    labels: list[str]
    weighted_f1: float
    macro_f1: float
    accuracy: float
    per_class_f1: dict[str, float]
    confusion: list[list[int]]
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Metrics:
        return cls(
            labels=list(d["labels"]),
            weighted_f1=float(d["weighted_f1"]),
            macro_f1=float(d["macro_f1"]),
            accuracy=float(d["accuracy"]),
            per_class_f1={str(k): float(v) for k, v in d["per_class_f1"].items()},
            confusion=[[int(x) for x in row] for row in d["confusion"]],
            n=int(d["n"]),
        )


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> Metrics:
    """Weighted/macro F1, accuracy, per-class F1 and the confusion matrix.

    ``y_true``/``y_pred`` are class indices into ``labels`` (the label set's order).
    """
    labels = list(labels)
    yt = np.asarray(y_true, dtype=np.int64).reshape(-1)  # [n]
    yp = np.asarray(y_pred, dtype=np.int64).reshape(-1)  # [n]
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.size} items but y_pred has {yp.size}")
    if yt.size == 0:
        raise ValueError("no predictions to score")
    if not labels:
        raise ValueError("labels is empty")
    for name, y in (("y_true", yt), ("y_pred", yp)):
        if y.min() < 0 or y.max() >= len(labels):
            raise ValueError(f"{name} holds a class index outside 0..{len(labels) - 1}")
    idx = list(range(len(labels)))
    per_class = f1_score(yt, yp, labels=idx, average=None, zero_division=0)  # [classes]
    return Metrics(
        labels=labels,
        weighted_f1=100.0 * float(f1_score(yt, yp, labels=idx, average="weighted", zero_division=0)),
        macro_f1=100.0 * float(f1_score(yt, yp, labels=idx, average="macro", zero_division=0)),
        accuracy=100.0 * float(accuracy_score(yt, yp)),
        per_class_f1={lab: 100.0 * float(f) for lab, f in zip(labels, per_class)},
        confusion=confusion_matrix(yt, yp, labels=idx).astype(int).tolist(),
        n=int(yt.size),
    )


SCALARS = ("weighted_f1", "macro_f1", "accuracy")


def aggregate(metrics_list: Sequence[Metrics]) -> dict[str, Any]:
    """Mean and standard deviation over runs (``--seeds``): for each scalar and each
    class's F1, ``{"mean", "std", "values"}``.

    ``std`` is the population standard deviation (``ddof=0``): it describes the seeds that
    were run, not an estimate for unseen seeds, and is 0 (not NaN) for a single run.
    """
    if not metrics_list:
        raise ValueError("aggregate needs at least one Metrics")
    labels = metrics_list[0].labels
    if any(m.labels != labels for m in metrics_list):
        raise ValueError("cannot aggregate metrics over different label sets")

    def stats(values: list[float]) -> dict[str, Any]:
        arr = np.asarray(values, dtype=np.float64)
        return {"mean": float(arr.mean()), "std": float(arr.std(ddof=0)), "values": [float(v) for v in values]}

    out: dict[str, Any] = {"runs": len(metrics_list), "labels": list(labels)}
    for key in SCALARS:
        out[key] = stats([getattr(m, key) for m in metrics_list])
    out["per_class_f1"] = {lab: stats([m.per_class_f1[lab] for m in metrics_list]) for lab in labels}
    out["n"] = [m.n for m in metrics_list]
    return out
