"""Classification metrics for emotion recognition in conversation, all in percent.

Weighted F1 is the headline (the MELD literature reports it; see the spec's evaluation
section); macro F1 shows what the frequent ``neutral`` class hides. Both come from
scikit-learn with ``labels=range(len(labels))`` and ``zero_division=0``, so a class that is
never predicted scores 0 instead of raising, and macro F1 averages over every class of the
label set (a class absent from both ``y_true`` and ``y_pred`` counts as 0).

The figures other corpora's literature reports come with them, so a comparison is like for
like: UAR (unweighted average recall, speech emotion's headline: the mean recall over the
classes that occur in ``y_true``) and micro F1 with some labels left out (DailyDialog's
headline leaves ``neutral`` out: true positives, predictions and occurrences are counted over
the other classes only). ``Selection`` is any one of these figures as the dev score a training
stage keeps its best epoch by (``metrics.select_on``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


@dataclass
class Metrics:
    """Scores of one evaluation. F1s and accuracy in 0-100; ``confusion[i][j]`` counts
    utterances of true class ``i`` predicted as ``j`` (every label, even if absent).
    ``micro_f1`` is None unless some labels were left out of it (with none left out it would
    equal accuracy); the fields after ``n`` are None in reports written before they existed."""

    labels: list[str]
    weighted_f1: float
    macro_f1: float
    accuracy: float
    per_class_f1: dict[str, float]
    confusion: list[list[int]]
    n: int
    uar: float | None = None
    per_class_precision: dict[str, float] | None = None
    per_class_recall: dict[str, float] | None = None
    micro_f1: float | None = None
    micro_f1_excludes: list[str] = field(default_factory=list)

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
            uar=_opt_float(d.get("uar")),
            per_class_precision=_opt_floats(d.get("per_class_precision")),
            per_class_recall=_opt_floats(d.get("per_class_recall")),
            micro_f1=_opt_float(d.get("micro_f1")),
            micro_f1_excludes=[str(x) for x in d.get("micro_f1_excludes") or []],
        )


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _opt_floats(d: Mapping[str, Any] | None) -> dict[str, float] | None:
    return None if d is None else {str(k): float(v) for k, v in d.items()}


def _indices(y: Sequence[int], name: str, n_classes: int) -> np.ndarray:
    arr = np.asarray(y, dtype=np.int64).reshape(-1)  # [n]
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} holds a class index outside 0..{n_classes - 1}")
    return arr


def micro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, exclude: Sequence[int]) -> float:
    """Micro F1 (0-100) over the classes not in ``exclude``: a prediction of an excluded class
    is no prediction, an utterance of one is no occurrence (DailyDialog's figure)."""
    kept = [k for k in range(n_classes) if k not in set(exclude)]
    if not kept:
        raise ValueError("micro F1 cannot leave out every label")
    return 100.0 * float(f1_score(y_true, y_pred, labels=kept, average="micro", zero_division=0))


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall (0-100): the mean recall over the classes present in ``y_true``."""
    import warnings

    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": expected, not news
        warnings.simplefilter("ignore", UserWarning)
        return 100.0 * float(balanced_accuracy_score(y_true, y_pred))


SELECTABLE = ("weighted_f1", "macro_f1", "accuracy", "uar", "micro_f1")


def figure(name: str, yt: np.ndarray, yp: np.ndarray, n_classes: int, exclude: Sequence[int] = ()) -> float:
    """One scalar figure (0-100) of checked class indices: the single definition that both the
    reported ``Metrics`` and the ``Selection`` a stage keeps its epochs by use."""
    idx = list(range(n_classes))
    if name == "weighted_f1":
        return 100.0 * float(f1_score(yt, yp, labels=idx, average="weighted", zero_division=0))
    if name == "macro_f1":
        return 100.0 * float(f1_score(yt, yp, labels=idx, average="macro", zero_division=0))
    if name == "accuracy":
        return 100.0 * float(accuracy_score(yt, yp))
    if name == "uar":
        return uar(yt, yp)
    if name == "micro_f1":
        return micro_f1(yt, yp, n_classes, exclude)
    raise ValueError(f"unknown metric {name!r} (one of {', '.join(SELECTABLE)})")


@dataclass(frozen=True)
class Selection:
    """The dev figure a training stage keeps its best epoch by: ``name`` one of ``SELECTABLE``;
    ``exclude`` the class indices left out of micro F1. ``selection(labels, excludes)`` builds
    one from a config's names."""

    name: str = "weighted_f1"
    exclude: tuple[int, ...] = ()

    @property
    def short(self) -> str:
        """The name in log lines."""
        return {"weighted_f1": "wF1", "macro_f1": "macro F1", "uar": "UAR", "micro_f1": "micro F1"}.get(self.name, self.name)

    def __call__(self, y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
        yt, yp = _indices(y_true, "y_true", n_classes), _indices(y_pred, "y_pred", n_classes)
        if yt.size == 0:
            return float("nan")
        return figure(self.name, yt, yp, n_classes, self.exclude)


def selection(name: str, labels: Sequence[str], excludes: Sequence[str] = ()) -> Selection:
    """A ``Selection`` from names (``metrics.select_on``, ``metrics.micro_f1_excludes``), checked
    against the label set: ``ValueError`` saying what is wrong."""
    if name not in SELECTABLE:
        raise ValueError(f"select_on {name!r}: one of {', '.join(SELECTABLE)}")
    exclude = excluded(labels, excludes)
    if name == "micro_f1" and not exclude:
        raise ValueError("select_on micro_f1 needs labels in micro_f1_excludes (with none left out it is accuracy)")
    return Selection(name, exclude)


def excluded(labels: Sequence[str], excludes: Sequence[str]) -> tuple[int, ...]:
    """Class indices of ``excludes`` (matched case-insensitively); ``ValueError`` for a label
    outside the set or a set left with nothing."""
    folded = [lab.casefold() for lab in labels]
    out = []
    for name in excludes:
        if str(name).casefold() not in folded:
            raise ValueError(f"micro_f1_excludes: {name!r} is not a label of the set ({', '.join(labels)})")
        out.append(folded.index(str(name).casefold()))
    if excludes and len(set(out)) == len(labels):
        raise ValueError("micro_f1_excludes leaves out every label")
    return tuple(sorted(set(out)))


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str],
                    micro_f1_excludes: Sequence[str] = ()) -> Metrics:
    """Weighted/macro F1, accuracy, UAR, per-class precision/recall/F1, the confusion matrix,
    and micro F1 without the labels of ``micro_f1_excludes`` when it names any.

    ``y_true``/``y_pred`` are class indices into ``labels`` (the label set's order).
    """
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty")
    yt = _indices(y_true, "y_true", len(labels))
    yp = _indices(y_pred, "y_pred", len(labels))
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.size} items but y_pred has {yp.size}")
    if yt.size == 0:
        raise ValueError("no predictions to score")
    exclude = excluded(labels, micro_f1_excludes)
    idx = list(range(len(labels)))
    precision, recall, per_class, _ = precision_recall_fscore_support(
        yt, yp, labels=idx, average=None, zero_division=0)  # [classes] each
    k = len(labels)
    return Metrics(
        labels=labels,
        weighted_f1=figure("weighted_f1", yt, yp, k),
        macro_f1=figure("macro_f1", yt, yp, k),
        accuracy=figure("accuracy", yt, yp, k),
        per_class_f1={lab: 100.0 * float(f) for lab, f in zip(labels, per_class)},
        confusion=confusion_matrix(yt, yp, labels=idx).astype(int).tolist(),
        n=int(yt.size),
        uar=figure("uar", yt, yp, k),
        per_class_precision={lab: 100.0 * float(v) for lab, v in zip(labels, precision)},
        per_class_recall={lab: 100.0 * float(v) for lab, v in zip(labels, recall)},
        micro_f1=figure("micro_f1", yt, yp, k, exclude) if exclude else None,
        micro_f1_excludes=[labels[i] for i in exclude],
    )


SCALARS = ("weighted_f1", "macro_f1", "accuracy", "uar", "micro_f1")


def figure_name(key: str, excludes: Sequence[str] = ()) -> str:
    """A scalar's name for people (tables, reports): micro F1 says what it leaves out."""
    if key == "micro_f1":
        return f"micro F1 without {'+'.join(excludes)}"
    return {"uar": "UAR", "weighted_f1": "weighted F1", "macro_f1": "macro F1"}.get(key, key.replace("_", " "))


def aggregate(metrics_list: Sequence[Metrics]) -> dict[str, Any]:
    """Mean and standard deviation over runs (``--seeds``): for each scalar and each
    class's F1, ``{"mean", "std", "values"}``. A scalar some run lacks (UAR in an older
    report, micro F1 when nothing was left out) is left out.

    ``std`` is the population standard deviation (``ddof=0``): it describes the seeds that
    were run, not an estimate for unseen seeds, and is 0 (not NaN) for a single run.
    """
    if not metrics_list:
        raise ValueError("aggregate needs at least one Metrics")
    labels = metrics_list[0].labels
    if any(m.labels != labels for m in metrics_list):
        raise ValueError("cannot aggregate metrics over different label sets")
    if any(m.micro_f1_excludes != metrics_list[0].micro_f1_excludes for m in metrics_list):
        raise ValueError("cannot aggregate micro F1 over different labels left out")

    def stats(values: list[float]) -> dict[str, Any]:
        arr = np.asarray(values, dtype=np.float64)
        return {"mean": float(arr.mean()), "std": float(arr.std(ddof=0)), "values": [float(v) for v in values]}

    out: dict[str, Any] = {"runs": len(metrics_list), "labels": list(labels)}
    for key in SCALARS:
        values = [getattr(m, key) for m in metrics_list]
        if all(v is not None for v in values):
            out[key] = stats(values)
    if metrics_list[0].micro_f1_excludes:
        out["micro_f1_excludes"] = list(metrics_list[0].micro_f1_excludes)
    out["per_class_f1"] = {lab: stats([m.per_class_f1[lab] for m in metrics_list]) for lab in labels}
    out["n"] = [m.n for m in metrics_list]
    return out
