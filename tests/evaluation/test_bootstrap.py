"""Bootstrap intervals over conversations: the figures from confusion matrices agree with the
reported ones, and the intervals are pinned on cases whose resamples can be enumerated."""

from __future__ import annotations

import numpy as np
import pytest

from altsa.evaluation.bootstrap import bootstrap, confusions, figures
from altsa.evaluation.metrics import compute_metrics

LABELS = ["anger", "disgust", "joy", "neutral"]


@pytest.mark.parametrize("seed", range(5))
def test_figures_from_the_confusion_matrix_are_the_reported_ones(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 60)
    p = np.where(rng.random(60) < 0.5, y, rng.integers(0, 4, 60))
    y[y == 1] = 0 if seed % 2 else 1  # odd seeds: class 1 absent from y_true (UAR leaves it out)
    m = compute_metrics(y, p, LABELS, ["neutral"])
    f = figures(confusions(y, p, ["d"] * 60, 4), exclude=(3,))
    for key in ("weighted_f1", "macro_f1", "accuracy", "uar", "micro_f1"):
        assert float(f[key][0]) == pytest.approx(getattr(m, key)), key
    assert f["per_class_f1"][0] == pytest.approx([m.per_class_f1[lab] for lab in LABELS])


def test_confusions_are_per_conversation():
    conf = confusions([0, 1, 1, 2], [0, 1, 0, 2], ["a", "b", "a", "b"], 3)
    assert conf.shape == (2, 3, 3)
    assert conf[0].tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]  # a: 0->0, 1->0
    assert conf[1].tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 1]]  # b: 1->1, 2->2


def test_conversations_not_utterances_are_resampled():
    """Two conversations of 50 utterances: A all right, B all wrong. Resamples are AA, AB, BA,
    BB (probabilities 1/4, 1/2, 1/4): accuracy 100, 50 or 0, so the 95% interval is [0, 100].
    Resampling utterances would give about [40, 60]."""
    y = [0] * 100
    p = [0] * 50 + [1] * 50
    ci = bootstrap(y, p, ["A"] * 50 + ["B"] * 50, ["x", "y"], samples=2000, seed=1)
    assert ci["accuracy"] == [0.0, 100.0] and ci["conversations"] == 2
    # the middle half: with P(AB or BA) = 1/2 the quartiles are both 50 or reach the ends
    ci50 = bootstrap(y, p, ["A"] * 50 + ["B"] * 50, ["x", "y"], samples=2000, seed=1, level=0.4)
    assert ci50["accuracy"] == [50.0, 50.0]  # the central 40 % lies inside AB/BA's half


def test_intervals_of_a_perfect_and_a_single_conversation_run_are_points():
    y = [0, 1, 2, 3, 0, 1]
    perfect = bootstrap(y, y, ["a", "a", "b", "b", "c", "c"], LABELS, samples=300)
    assert perfect["weighted_f1"] == [100.0, 100.0] and perfect["accuracy"] == [100.0, 100.0]
    one = bootstrap(y, [0, 1, 2, 0, 0, 0], ["a"] * 6, LABELS, samples=300)
    point = compute_metrics(y, [0, 1, 2, 0, 0, 0], LABELS)
    assert one["weighted_f1"] == pytest.approx([point.weighted_f1] * 2)
    assert one["per_class_f1"]["anger"] == pytest.approx([point.per_class_f1["anger"]] * 2)


def test_same_seed_same_interval_and_it_holds_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    groups = [str(i // 10) for i in range(300)]
    a = bootstrap(y, p, groups, LABELS, samples=500, seed=3, micro_f1_excludes=["neutral"])
    assert a == bootstrap(y, p, groups, LABELS, samples=500, seed=3, micro_f1_excludes=["neutral"])
    m = compute_metrics(y, p, LABELS, ["neutral"])
    for key in ("weighted_f1", "macro_f1", "accuracy", "uar", "micro_f1"):
        lo, hi = a[key]
        assert lo < getattr(m, key) < hi and hi - lo < 25, key
    assert "micro_f1" not in bootstrap(y, p, groups, LABELS, samples=50)


@pytest.mark.parametrize(("kw", "pattern"), [({"samples": 0}, "samples"), ({"level": 1.0}, "level")])
def test_bad_settings(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        bootstrap([0], [0], ["a"], ["x"], **kw)
