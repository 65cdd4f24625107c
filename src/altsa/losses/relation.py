"""Logit-level relation loss (spec 2, "Students"): match how the student's class
probabilities co-vary with the teacher's, per sample and per class, rather than their values.

With ``p = softmax(z / tau)`` over a batch of utterances:
``inter = 1 - mean_i pearson(p_s[i,:], p_t[i,:])`` (each sample's profile over classes),
``intra = 1 - mean_c pearson(p_s[:,c], p_t[:,c])`` (each class's profile over the batch),
``L_rel = tau^2 (beta inter + gamma intra)``.
"""

from __future__ import annotations

import torch


def pearson(x: torch.Tensor, y: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation along ``dim``. Eps-safe: a constant vector (zero variance, e.g. a
    batch of one for the per-class profile) gives 0 correlation and a finite gradient."""
    xc = x - x.mean(dim, keepdim=True)
    yc = y - y.mean(dim, keepdim=True)
    cov = (xc * yc).sum(dim)
    scale = torch.sqrt((xc * xc).sum(dim) + eps) * torch.sqrt((yc * yc).sum(dim) + eps)
    return cov / scale


def relation_loss(
    z_s: torch.Tensor,
    z_t: torch.Tensor,
    *,
    tau: float = 4.0,
    beta: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-8,
) -> torch.Tensor:
    """z_s, z_t [n, C] logits of the same n utterances -> scalar ``L_rel`` (0 for n == 0)."""
    if z_s.shape != z_t.shape or z_s.dim() != 2:
        raise ValueError(f"relation_loss needs two [n, C] tensors of one shape, got {tuple(z_s.shape)}, {tuple(z_t.shape)}")
    if z_s.shape[0] == 0:
        return z_s.sum() * 0.0
    p_s = torch.softmax(z_s / tau, dim=-1)  # [n, C]
    p_t = torch.softmax(z_t / tau, dim=-1)
    inter = 1.0 - pearson(p_s, p_t, dim=1, eps=eps).mean()
    intra = 1.0 - pearson(p_s, p_t, dim=0, eps=eps).mean()
    return tau**2 * (beta * inter + gamma * intra)
