"""Layer-wise learning-rate decay (``train.<stage>.layer_decay``): which learning rate each
parameter of a fine-tuned encoder gets, written out here for a tiny RoBERTa."""

from __future__ import annotations

import re

import pytest
from torch import nn


@pytest.fixture(scope="module")
def teacher_like(tmp_path_factory):
    """An encoder under ``encoder`` and a head beside it, as in the fine-tuning routes."""
    from transformers import AutoModel

    from altsa.encoders.tiny import save_tiny_roberta

    path = save_tiny_roberta(tmp_path_factory.mktemp("roberta"), layers=3)
    root = nn.Module()
    root.encoder = AutoModel.from_pretrained(path)
    root.branch = nn.Linear(4, 2)
    return root


def expected_lr(name: str, lr: float, decay: float, head_lr: float, n: int = 3) -> float:
    block = re.match(r"encoder\.encoder\.layer\.(\d+)\.", name)
    if block:
        return lr * decay ** (n - 1 - int(block.group(1)))
    if name.startswith("encoder.embeddings."):
        return lr * decay**n
    if name.startswith("encoder."):
        return lr  # above the blocks (the pooler): the top block's rate
    return head_lr


@pytest.mark.parametrize("decay", [0.5, 0.8])
def test_each_block_gets_its_decayed_rate(teacher_like, decay):
    from altsa.training.loop import encoder_lrs, lr_of

    lrs = encoder_lrs(teacher_like, "encoder", 1e-3, decay)
    names = [n for n, _ in teacher_like.named_parameters()]
    assert any(".layer.0." in n for n in names) and any("embeddings" in n for n in names)
    for name in names:
        assert lr_of(name, lrs, 7e-3) == pytest.approx(expected_lr(name, 1e-3, decay, 7e-3)), name


def test_no_decay_is_one_rate_for_the_encoder(teacher_like):
    from altsa.training.loop import encoder_lrs, lr_of

    lrs = encoder_lrs(teacher_like, "encoder", 1e-3)
    assert lrs == {"encoder": 1e-3}
    assert {lr_of(n, lrs, 7e-3) for n, _ in teacher_like.encoder.named_parameters(prefix="encoder")} == {1e-3}


def test_an_encoder_without_blocks_is_a_config_error():
    from altsa.errors import ConfigError
    from altsa.training.loop import encoder_lrs

    root = nn.Module()
    root.encoder = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU())
    with pytest.raises(ConfigError, match="no stack of transformer blocks"):
        encoder_lrs(root, "encoder", 1e-3, 0.5)
