"""Metrics against hand-computed values."""

from __future__ import annotations

import pytest

from altsa.evaluation.metrics import Metrics, aggregate, compute_metrics

LABELS = ["a", "b", "c", "d"]
# a: tp 2 fp 0 fn 1 -> F1 0.8; b: tp 1 fp 1 fn 1 -> 0.5; c: tp 1 fp 1 fn 0 -> 2/3; d absent -> 0
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_hand_computed_example() -> None:
    m = compute_metrics(Y_TRUE, Y_PRED, LABELS)
    assert m.n == 6
    assert m.accuracy == pytest.approx(100 * 4 / 6)
    assert m.per_class_f1 == pytest.approx({"a": 80.0, "b": 50.0, "c": 100 * 2 / 3, "d": 0.0})
    assert m.weighted_f1 == pytest.approx(100 * (3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)  # support-weighted
    assert m.macro_f1 == pytest.approx(100 * (0.8 + 0.5 + 2 / 3 + 0.0) / 4)  # every label counts
    assert m.confusion == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_perfect_and_all_wrong() -> None:
    perfect = compute_metrics([0, 1, 2], [0, 1, 2], ["x", "y", "z"])
    assert (perfect.weighted_f1, perfect.macro_f1, perfect.accuracy) == (100.0, 100.0, 100.0)
    wrong = compute_metrics([0, 0], [1, 1], ["x", "y"])
    assert (wrong.weighted_f1, wrong.accuracy) == (0.0, 0.0)
    assert wrong.confusion == [[0, 2], [0, 0]]


def test_to_dict_round_trip() -> None:
    m = compute_metrics(Y_TRUE, Y_PRED, LABELS)
    d = m.to_dict()
    assert set(d) == {"labels", "weighted_f1", "macro_f1", "accuracy", "per_class_f1", "confusion", "n"}
    assert Metrics.from_dict(d) == m


@pytest.mark.parametrize(
    ("y_true", "y_pred", "pattern"),
    [([0, 1], [0], "2 items but y_pred has 1"), ([], [], "no predictions"), ([0, 4], [0, 1], "outside 0..3"),
     ([0], [-1], "y_pred holds")],
)
def test_bad_input(y_true, y_pred, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        compute_metrics(y_true, y_pred, LABELS)


def test_aggregate_mean_and_population_std() -> None:
    runs = [
        compute_metrics([0, 1, 1, 0], [0, 1, 1, 0], ["p", "q"]),  # accuracy 100
        compute_metrics([0, 1, 1, 0], [0, 1, 0, 0], ["p", "q"]),  # accuracy 75
    ]
    agg = aggregate(runs)
    assert agg["runs"] == 2 and agg["labels"] == ["p", "q"]
    assert agg["accuracy"] == {"mean": 87.5, "std": 12.5, "values": [100.0, 75.0]}  # ddof=0
    # run 2: p tp 2 fp 1 fn 0 -> F1 0.8; q tp 1 fp 0 fn 1 -> 2/3
    assert agg["per_class_f1"]["p"]["mean"] == pytest.approx(90.0)
    assert agg["per_class_f1"]["q"]["std"] == pytest.approx((100 - 100 * 2 / 3) / 2)
    assert aggregate(runs[:1])["weighted_f1"]["std"] == 0.0
    with pytest.raises(ValueError, match="different label sets"):
        aggregate([runs[0], compute_metrics([0], [0], ["p", "r"])])
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])
