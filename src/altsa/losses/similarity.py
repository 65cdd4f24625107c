"""Feature-level similarity alignment (spec 2, "Students"): the student learns to relate the
samples of a batch the way the teacher does.

L2-normalise teacher vectors ``T`` and student vectors ``S``; target ``P = softmax(T T^T / tau_f)``
row-wise; prediction ``Q = log_softmax(T S^T / tau_f)``; ``L_sim = KL(P || Q)``, batch mean.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def similarity_loss(h_s: torch.Tensor, h_t: torch.Tensor, *, tau_f: float = 1.0) -> torch.Tensor:
    """h_s, h_t [n, d] (student already projected to the teacher's d) -> scalar ``L_sim`` >= 0,
    0 exactly when the normalised student vectors equal the teacher's."""
    if h_s.shape != h_t.shape or h_s.dim() != 2:
        raise ValueError(f"similarity_loss needs two [n, d] tensors of one shape, got {tuple(h_s.shape)}, {tuple(h_t.shape)}")
    if h_s.shape[0] == 0:
        return h_s.sum() * 0.0
    t = F.normalize(h_t, dim=-1)
    s = F.normalize(h_s, dim=-1)
    log_p = F.log_softmax(t @ t.T / tau_f, dim=-1)  # [n, n] teacher's relations
    log_q = F.log_softmax(t @ s.T / tau_f, dim=-1)  # [n, n] teacher-to-student relations
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")
