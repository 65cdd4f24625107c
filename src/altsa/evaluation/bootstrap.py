"""How far a dev or test figure can be trusted: percentile bootstrap intervals over conversations.

MELD's dev split has 114 conversations and 22 disgust utterances; a difference of a point of
weighted F1 between two runs, or 25 against 23 disgust F1, is often inside the noise of which
conversations happened to be in the split. ``bootstrap`` resamples whole conversations (the
unit the data was collected in: utterances of one conversation are not independent), with
replacement, ``samples`` times, recomputes every figure on each resample and reports the
central ``level`` share of them (percentile interval, Efron & Tibshirani 1993, ch. 13).

Each resample's figures come from its confusion matrix (the sum of its conversations'
matrices), with the definitions of ``altsa.evaluation.metrics`` (``zero_division=0``; UAR over
the classes present in the resample), so a thousand resamples cost milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from altsa.evaluation.metrics import excluded


def confusions(y_true: Sequence[int], y_pred: Sequence[int], groups: Sequence[str], n_classes: int
               ) -> np.ndarray:
    """One confusion matrix per group (conversation), in order of first appearance: [G, K, K]
    (rows true, columns predicted)."""
    yt, yp = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    index: dict[str, int] = {}
    g = np.array([index.setdefault(str(x), len(index)) for x in groups], dtype=np.int64)
    out = np.zeros((len(index), n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (g, yt, yp), 1)
    return out


def figures(conf: np.ndarray, exclude: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """Every figure of ``Metrics`` (0-100) from confusion matrices ``conf`` [..., K, K]: arrays
    of shape [...] (``per_class_f1``: [..., K]); ``micro_f1`` only with ``exclude``."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diagonal(conf, axis1=-2, axis2=-1)  # [..., K]
    true, pred = conf.sum(-1), conf.sum(-2)  # [..., K] each
    n = true.sum(-1)  # [...]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(true + pred > 0, 2 * tp / (true + pred), 0.0)  # [..., K]: 2PR/(P+R) = 2tp/(true+pred)
        recall = np.where(true > 0, tp / true, 0.0)
        present = (true > 0).sum(-1)
        out = {
            "weighted_f1": 100 * np.where(n > 0, (f1 * true).sum(-1) / n, 0.0),
            "macro_f1": 100 * f1.mean(-1),
            "accuracy": 100 * np.where(n > 0, tp.sum(-1) / n, 0.0),
            "uar": 100 * np.where(present > 0, recall.sum(-1) / present, 0.0),
            "per_class_f1": 100 * f1,
        }
        if len(exclude):
            kept = np.ones(conf.shape[-1], dtype=bool)
            kept[list(exclude)] = False
            denom = true[..., kept].sum(-1) + pred[..., kept].sum(-1)
            out["micro_f1"] = 100 * np.where(denom > 0, 2 * tp[..., kept].sum(-1) / denom, 0.0)
    return out


MAX_SAMPLES = 100_000  # beyond this the Monte-Carlo error is far below the interval's own width
_CELLS = 2_000_000  # resamples x conversations drawn at a time (16 MB of counts), at most 5,000 resamples
MIN_CONVERSATIONS = 2  # one conversation resampled is always itself: no interval to speak of


def _check(samples: int, level: float) -> None:
    if not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be between 1 and {MAX_SAMPLES:,}, got {samples:,}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _resampled(per_group: list[np.ndarray], samples: int, seed: int, exclude: Sequence[int]
               ) -> list[dict[str, np.ndarray]]:
    """Figures of ``samples`` resamples of the conversations, one dict per confusion stack in
    ``per_group`` (each [G, K, K]), every stack scored on the same draws; drawn in chunks."""
    g, k = per_group[0].shape[0], per_group[0].shape[1]
    if g == 0:
        raise ValueError("no predictions to resample")
    if g < MIN_CONVERSATIONS:
        raise ValueError(f"bootstrap intervals need at least {MIN_CONVERSATIONS} conversations; this data has {g}")
    rng = np.random.default_rng(seed)
    flat = [conf.reshape(g, k * k).astype(np.float64) for conf in per_group]  # [G, K*K]
    chunk = max(1, min(5_000, _CELLS // g))
    parts: list[list[dict[str, np.ndarray]]] = [[] for _ in per_group]
    for start in range(0, samples, chunk):
        counts = rng.multinomial(g, np.full(g, 1.0 / g), size=min(chunk, samples - start)).astype(np.float64)  # [s, G]
        for out, conf in zip(parts, flat):
            out.append(figures((counts @ conf).reshape(-1, k, k), exclude))  # [s, K, K]: each resample's confusion
    return [{key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]} for chunks in parts]


def _bounds(values: np.ndarray, level: float) -> np.ndarray:
    """The central ``level`` share of ``values`` along its first axis: [2, ...] (low, high)."""
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    return np.percentile(values, q, axis=0)


def _header(samples: int, seed: int, level: float, conversations: int) -> dict[str, Any]:
    return {"samples": samples, "seed": seed, "level": level, "unit": "conversation", "conversations": conversations}


def bootstrap(y_true: Sequence[int], y_pred: Sequence[int], groups: Sequence[str], labels: Sequence[str], *,
              samples: int = 1000, seed: int = 0, level: float = 0.95, micro_f1_excludes: Sequence[str] = ()
              ) -> dict[str, Any]:
    """Percentile intervals of every figure, resampling ``groups`` (each utterance's
    conversation) with replacement: ``{"samples", "seed", "level", "unit", "conversations",
    figure: [low, high], "per_class_f1": {label: [low, high]}}``."""
    _check(samples, level)
    labels = list(labels)
    per_group = confusions(y_true, y_pred, groups, len(labels))  # [G, K, K]
    values = _resampled([per_group], samples, seed, excluded(labels, micro_f1_excludes))[0]
    out = _header(samples, seed, level, per_group.shape[0])
    for key, v in values.items():
        bounds = _bounds(v, level)  # [2] or [2, K]
        if key == "per_class_f1":
            out[key] = {lab: [float(bounds[0, k]), float(bounds[1, k])] for k, lab in enumerate(labels)}
        else:
            out[key] = [float(x) for x in bounds]
    return out


def paired(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], groups: Sequence[str],
           labels: Sequence[str], *, samples: int = 1000, seed: int = 0, level: float = 0.95,
           micro_f1_excludes: Sequence[str] = ()) -> dict[str, Any]:
    """Is A better than B on these utterances? The paired bootstrap: each resample of the
    conversations scores both models on the same draw, so what the two share (the split's easy
    and hard conversations) cancels out of the difference. For every figure: ``a``, ``b``,
    ``difference`` (a - b), its ``interval``, and ``p_a_not_better``, the share of resamples
    where A does not beat B (a one-sided bootstrap p-value for "A is better")."""
    _check(samples, level)
    labels = list(labels)
    exclude = excluded(labels, micro_f1_excludes)
    conf_a = confusions(y_true, pred_a, groups, len(labels))  # [G, K, K]
    conf_b = confusions(y_true, pred_b, groups, len(labels))
    fig_a, fig_b = _resampled([conf_a, conf_b], samples, seed, exclude)  # both on the same draws
    point_a, point_b = figures(conf_a.sum(0), exclude), figures(conf_b.sum(0), exclude)
    diff = {k: fig_a[k] - fig_b[k] for k in fig_a}  # [S] or [S, K]

    def entry(a: float, b: float, d: np.ndarray) -> dict[str, Any]:
        lo, hi = _bounds(d, level)
        return {"a": float(a), "b": float(b), "difference": float(a - b), "interval": [float(lo), float(hi)],
                "p_a_not_better": float((d <= 0).mean())}

    out = _header(samples, seed, level, conf_a.shape[0])
    for key, d in diff.items():
        if key == "per_class_f1":
            out[key] = {lab: entry(point_a[key][k], point_b[key][k], d[:, k]) for k, lab in enumerate(labels)}
        else:
            out[key] = entry(point_a[key], point_b[key], d)
    return out
