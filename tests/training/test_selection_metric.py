"""The number every stage picks its epoch by (spec 4: dev weighted F1), pinned by hand."""

from __future__ import annotations

import math

import pytest
import torch

from altsa.losses import IGNORE
from altsa.training.predict import weighted_f1


def _logits(preds: list[int], classes: int = 3) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(preds), classes).float()


def test_weighted_f1_is_support_weighted_over_labelled_kept_rows():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, IGNORE, 2])
    logits = _logits([0, 0, 1, 1, 0, 2, 1, 0])
    keep = torch.tensor([True] * 7 + [False])  # the last row (a miss) is not scored
    # class 0: P 2/3, R 2/3; class 1: P 1/2, R 1/2; class 2: F1 1. Supports 3, 2, 1.
    want = 100 * (3 * (2 / 3) + 2 * 0.5 + 1 * 1.0) / 6  # 66.67 (macro F1 would be 72.22)
    assert weighted_f1(labels, logits, keep) == pytest.approx(want)


def test_no_labelled_row_gives_nan():
    assert math.isnan(weighted_f1(torch.tensor([IGNORE, IGNORE]), _logits([0, 1])))
