"""``training.predict.text_outputs``: the teacher routes' eval pass (dev scoring and the
curriculum's ranking) runs batches longest first but answers in the items' own order."""

from __future__ import annotations

import torch
from torch import nn

from altsa.training.predict import text_outputs


class _Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch = nn.Module()
        self.branch.head = nn.Linear(2, 3)
        self.modes: list[bool] = []


def test_outputs_come_back_in_item_order_in_eval_mode():
    teacher = _Teacher().train()
    lengths = [3, 9, 1, 7, 5]
    batches: list[list[int]] = []

    def forward(idx):
        batches.append(list(idx))
        teacher.modes.append(teacher.training)
        ids = torch.tensor(idx, dtype=torch.float32)
        return {"h_t": ids[:, None].repeat(1, 2), "z_t": -ids[:, None].repeat(1, 3)}

    h, z = text_outputs(teacher, lengths, 2, forward)
    assert batches == [[1, 3], [4, 0], [2]]  # longest first
    assert h[:, 0].tolist() == [0, 1, 2, 3, 4] and z[:, 0].tolist() == [0, -1, -2, -3, -4]
    assert teacher.modes == [False] * 3 and teacher.training  # eval inside, train mode restored
    h0, z0 = text_outputs(teacher, [], 2, forward)
    assert h0.shape == (0, 0) and z0.shape == (0, 3)
