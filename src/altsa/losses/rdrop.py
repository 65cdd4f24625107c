"""R-Drop (Liang et al. 2021): the same batch through the model twice, each pass with its own
dropout masks, and the two predictions pulled together by their symmetric KL divergence::

    L = 1/2 (L_1 + L_2) + alpha * 1/2 (KL(p_1 || p_2) + KL(p_2 || p_1))

``L_k`` is the stage objective on pass ``k`` and ``p_k = softmax(z_k)``; the KL term is the mean
over utterances. The paper sums ``L_1 + L_2``; averaging keeps the task loss on the scale of a
single pass (the paper's alpha is twice this one).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def rdrop_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """``1/2 (KL(p_1 || p_2) + KL(p_2 || p_1))`` of logits ``[n, C]``, mean over the n rows
    (0 for no rows). Both passes get gradient, as in the paper."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"rdrop_loss needs two [n, C] logits of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    if z1.shape[0] == 0:
        return (z1.sum() + z2.sum()) * 0.0
    lp1, lp2 = F.log_softmax(z1.float(), dim=-1), F.log_softmax(z2.float(), dim=-1)
    kl12 = (lp1.exp() * (lp1 - lp2)).sum(-1)
    kl21 = (lp2.exp() * (lp2 - lp1)).sum(-1)
    return 0.5 * (kl12 + kl21).mean()
