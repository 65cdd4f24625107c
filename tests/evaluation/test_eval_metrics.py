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
    # precision: a 2/2, b 1/2, c 1/2, d none predicted -> 0; recall: a 2/3, b 1/2, c 1/1, d absent -> 0
    assert m.per_class_precision == pytest.approx({"a": 100.0, "b": 50.0, "c": 50.0, "d": 0.0})
    assert m.per_class_recall == pytest.approx({"a": 100 * 2 / 3, "b": 50.0, "c": 100.0, "d": 0.0})
    # UAR: mean recall over the classes that occur (a, b, c); d, absent from y_true, is not a 0
    assert m.uar == pytest.approx(100 * (2 / 3 + 0.5 + 1.0) / 3)
    assert m.micro_f1 is None and m.micro_f1_excludes == []  # nothing left out: it would be accuracy


def test_micro_f1_leaves_the_named_labels_out_of_predictions_and_occurrences() -> None:
    # without a: TP 2 (rows 3 and 5); predicted b or c: rows 2, 3, 4, 5; true b or c: rows 3, 4, 5
    # -> P 2/4, R 2/3, F1 4/7 (accuracy over the rows whose true label is kept would be 2/3)
    m = compute_metrics(Y_TRUE, Y_PRED, LABELS, micro_f1_excludes=["A"])  # matched case-insensitively
    assert m.micro_f1 == pytest.approx(100 * 4 / 7) and m.micro_f1_excludes == ["a"]
    # without b: TP 3 (rows 0, 1, 5); predicted a or c: 4 rows; true a or c: 4 rows -> 3/4
    assert compute_metrics(Y_TRUE, Y_PRED, LABELS, ["b"]).micro_f1 == pytest.approx(75.0)
    # without a and c: only b counts: TP 1, predicted b 2, true b 2 -> 1/2
    assert compute_metrics(Y_TRUE, Y_PRED, LABELS, ["c", "a"]).micro_f1 == pytest.approx(50.0)
    with pytest.raises(ValueError, match="'e' is not a label"):
        compute_metrics(Y_TRUE, Y_PRED, LABELS, ["e"])
    with pytest.raises(ValueError, match="every label"):
        compute_metrics(Y_TRUE, Y_PRED, LABELS, LABELS)


def test_perfect_and_all_wrong() -> None:
    perfect = compute_metrics([0, 1, 2], [0, 1, 2], ["x", "y", "z"])
    assert (perfect.weighted_f1, perfect.macro_f1, perfect.accuracy) == (100.0, 100.0, 100.0)
    wrong = compute_metrics([0, 0], [1, 1], ["x", "y"])
    assert (wrong.weighted_f1, wrong.accuracy) == (0.0, 0.0)
    assert wrong.confusion == [[0, 2], [0, 0]]


def test_to_dict_round_trip() -> None:
    m = compute_metrics(Y_TRUE, Y_PRED, LABELS)
    d = m.to_dict()
    assert set(d) == {"labels", "weighted_f1", "macro_f1", "accuracy", "per_class_f1", "confusion", "n", "uar",
                      "per_class_precision", "per_class_recall", "micro_f1", "micro_f1_excludes"}
    assert Metrics.from_dict(d) == m
    excl = compute_metrics(Y_TRUE, Y_PRED, LABELS, ["a"])
    assert Metrics.from_dict(excl.to_dict()) == excl


def test_a_report_written_before_uar_still_reads() -> None:
    old = {k: v for k, v in compute_metrics(Y_TRUE, Y_PRED, LABELS).to_dict().items()
           if k in {"labels", "weighted_f1", "macro_f1", "accuracy", "per_class_f1", "confusion", "n"}}
    m = Metrics.from_dict(old)
    assert m.uar is None and m.per_class_recall is None and m.micro_f1 is None
    agg = aggregate([m, compute_metrics(Y_TRUE, Y_PRED, LABELS)])
    assert "uar" not in agg and agg["weighted_f1"]["std"] == 0.0  # left out, not averaged with a hole


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
    assert agg["uar"]["values"] == pytest.approx([100.0, 75.0])  # run 2: recall p 1, q 1/2
    assert "micro_f1" not in agg
    left = [compute_metrics([0, 1, 1, 0], p, ["p", "q"], ["p"]) for p in ([0, 1, 1, 0], [0, 1, 0, 0])]
    # run 2 without p: q TP 1, predicted 1, true 2 -> F1 2/3
    assert aggregate(left)["micro_f1"]["values"] == pytest.approx([100.0, 200 / 3])
    assert aggregate(left)["micro_f1_excludes"] == ["p"]
    with pytest.raises(ValueError, match="different labels left out"):
        aggregate([left[0], runs[0]])
    with pytest.raises(ValueError, match="different label sets"):
        aggregate([runs[0], compute_metrics([0], [0], ["p", "r"])])
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])
