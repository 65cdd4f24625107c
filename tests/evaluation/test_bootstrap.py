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


def test_a_perfect_run_is_a_point_and_one_conversation_no_interval():
    y = [0, 1, 2, 3, 0, 1]
    perfect = bootstrap(y, y, ["a", "a", "b", "b", "c", "c"], LABELS, samples=300)
    assert perfect["weighted_f1"] == [100.0, 100.0] and perfect["accuracy"] == [100.0, 100.0]
    # two identical conversations: every resample is the whole data again
    same = bootstrap(y * 2, [0, 1, 2, 0, 0, 0] * 2, ["a"] * 6 + ["b"] * 6, LABELS, samples=300)
    point = compute_metrics(y, [0, 1, 2, 0, 0, 0], LABELS)
    assert same["weighted_f1"] == pytest.approx([point.weighted_f1] * 2)
    assert same["per_class_f1"]["anger"] == pytest.approx([point.per_class_f1["anger"]] * 2)
    with pytest.raises(ValueError, match="at least 2 conversations; this data has 1"):
        bootstrap(y, [0, 1, 2, 0, 0, 0], ["a"] * 6, LABELS, samples=300)


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


def test_paired_difference_of_a_model_with_itself_is_nothing():
    from altsa.evaluation.bootstrap import paired

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 80)
    p = np.where(rng.random(80) < 0.5, y, rng.integers(0, 4, 80))
    r = paired(y, p, p, [str(i // 8) for i in range(80)], LABELS, samples=300)
    assert r["weighted_f1"]["difference"] == 0.0 and r["weighted_f1"]["interval"] == [0.0, 0.0]
    assert r["weighted_f1"]["p_a_not_better"] == 1.0  # never better than itself
    assert r["weighted_f1"]["a"] == pytest.approx(compute_metrics(y, p, LABELS).weighted_f1)


def test_paired_resamples_score_both_models_on_the_same_draw():
    """A is right on conversation 1 only, B on conversation 2 only (50 utterances each). Draws
    11 (p 1/4): accuracy difference +100; 12 or 21 (1/2): 0; 22 (1/4): -100. So A does not beat
    B in 3/4 of the resamples, and the 95 % interval is [-100, 100]."""
    from altsa.evaluation.bootstrap import paired

    y = [0] * 100
    a = [0] * 50 + [1] * 50
    b = [1] * 50 + [0] * 50
    r = paired(y, a, b, ["c1"] * 50 + ["c2"] * 50, ["x", "y"], samples=4000, seed=2)
    acc = r["accuracy"]
    assert (acc["a"], acc["b"], acc["difference"]) == (50.0, 50.0, 0.0)
    assert acc["interval"] == [-100.0, 100.0]
    assert acc["p_a_not_better"] == pytest.approx(0.75, abs=0.02)
    # A right everywhere, B on c2 only: A ties on the draw c2c2 (1/4) and wins on every other
    better = paired(y, [0] * 100, b, ["c1"] * 50 + ["c2"] * 50, ["x", "y"], samples=4000, seed=2)
    assert better["accuracy"]["p_a_not_better"] == pytest.approx(0.25, abs=0.02)
    assert better["accuracy"]["interval"] == [0.0, 100.0]
    assert set(better["per_class_f1"]) == {"x", "y"}


def test_runs_that_scored_different_utterances_do_not_compare():
    from altsa.errors import DataError
    from altsa.evaluation.evaluate import Evaluation, compare_runs

    m = compute_metrics([0, 1], [0, 1], ["x", "y"])
    a = Evaluation("a", "d", m, scored={"keys": ["d1/0", "d1/1"], "y_true": [0, 1], "y_pred": [0, 1]})
    b = Evaluation("b", "d", m, scored={"keys": ["d1/0", "d2/0"], "y_true": [0, 1], "y_pred": [1, 1]})
    with pytest.raises(DataError, match=r"1 utterance\(s\) scored by one only|2 utterance\(s\) scored by one only"):
        compare_runs(a, b, ["x", "y"], samples=10)
    c = Evaluation("c", "d", m, scored={"keys": ["d1/0", "d1/1"], "y_true": [1, 1], "y_pred": [0, 1]})
    with pytest.raises(DataError, match="different gold labels"):
        compare_runs(a, c, ["x", "y"], samples=10)
    two = Evaluation("a", "d", m, scored={"keys": ["d1/0", "d2/0"], "y_true": [0, 1], "y_pred": [0, 1]})
    swapped = Evaluation("b", "d", m, scored={"keys": ["d2/0", "d1/0"], "y_true": [1, 0], "y_pred": [0, 0]})
    r = compare_runs(two, swapped, ["x", "y"], samples=100)  # the same utterances in another order: aligned by key
    assert r["accuracy"]["a"] == 100.0 and r["accuracy"]["b"] == 50.0 and r["conversations"] == 2


def test_resamples_are_capped_and_drawn_in_chunks():
    from altsa.evaluation.bootstrap import MAX_SAMPLES

    with pytest.raises(ValueError, match="between 1 and 100,000"):
        bootstrap([0], [0], ["a"], ["x"], samples=MAX_SAMPLES + 1)
    y = [0, 1] * 30
    p = [0, 0] * 30
    groups = [str(i // 6) for i in range(60)]
    many = bootstrap(y, p, groups, ["x", "y"], samples=12_000)  # three chunks
    assert many["samples"] == 12_000 and many["accuracy"][0] <= 50.0 <= many["accuracy"][1]
