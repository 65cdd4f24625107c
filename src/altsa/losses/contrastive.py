"""Supervised prototypical contrastive loss for the text branch (after SPCL, Song et al. 2022):
utterances of one emotion are pulled together, others pushed apart, in the teacher stage.

A batch of 16 utterances rarely holds two of a rare class (MELD: disgust and fear are ~3% of
the utterances each), so a batch-only supervised contrastive loss (Khosla et al. 2020) gives
those classes almost no positives. As in SPCL, every class also has a prototype: the mean of its
last ``size`` vectors seen in training (a queue, detached), and the prototypes join the batch as
extra contrast points. For anchor ``i`` (normalised ``v_i``, label ``y_i``, temperature ``t``)::

    A(i) = the other batch vectors and every prototype; P(i) = the members of A(i) of class y_i
    L_i  = -1/|P(i)| sum_{p in P(i)} log( exp(v_i.v_p / t) / sum_{a in A(i)} exp(v_i.v_a / t) )

``L_con`` is the mean of ``L_i`` over the anchors with at least one positive (0 if none).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from altsa.losses.objectives import IGNORE


def supervised_contrastive_loss(
    h: torch.Tensor,
    labels: torch.Tensor,
    *,
    bank: torch.Tensor | None = None,
    bank_labels: torch.Tensor | None = None,
    tau: float = 0.1,
) -> torch.Tensor:
    """h [n, d] batch vectors with labels [n] (all real classes); ``bank`` [m, d] extra contrast
    points (prototypes; no gradient flows into them) with ``bank_labels`` [m]. Scalar ``L_con``."""
    if h.dim() != 2 or labels.shape != h.shape[:1]:
        raise ValueError(f"supervised_contrastive_loss needs h [n, d] and labels [n], got {tuple(h.shape)}, {tuple(labels.shape)}")
    v = F.normalize(h.float(), dim=-1)
    points, point_labels = v, labels
    n = v.shape[0]
    if bank is not None and bank.shape[0] > 0:
        points = torch.cat([v, F.normalize(bank.detach().float().to(v.device), dim=-1)])
        point_labels = torch.cat([labels, bank_labels.to(labels.device)])
    logits = v @ points.T / tau  # [n, n + m]
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(n), torch.arange(n)] = True
    logits = logits.masked_fill(self_mask, float("-inf"))  # an anchor is not its own contrast point
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == point_labels[None, :]) & ~self_mask
    count = positive.sum(1)
    anchors = count > 0
    if not anchors.any():
        return h.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~positive, 0.0).sum(1)[anchors] / count[anchors])
    return per_anchor.mean()


class Prototypes(nn.Module):
    """Per-class queues of the last ``size`` training vectors (detached); ``current()`` gives
    the mean vector of every class seen so far. Not saved with the model: a resumed run
    refills the queues within a few batches."""

    def __init__(self, classes: int, dim: int, size: int = 64):
        super().__init__()
        self.size = size
        self.register_buffer("queue", torch.zeros(classes, size, dim), persistent=False)
        self.register_buffer("filled", torch.zeros(classes, dtype=torch.long), persistent=False)
        self.register_buffer("head", torch.zeros(classes, dtype=torch.long), persistent=False)

    @torch.no_grad()
    def push(self, h: torch.Tensor, labels: torch.Tensor) -> None:
        v = F.normalize(h.detach().float(), dim=-1).to(self.queue.device)
        for vec, c in zip(v, labels.tolist(), strict=True):
            self.queue[c, self.head[c]] = vec
            self.head[c] = (self.head[c] + 1) % self.size
            self.filled[c] = torch.clamp(self.filled[c] + 1, max=self.size)

    def current(self) -> tuple[torch.Tensor, torch.Tensor]:
        """([k, d] prototypes, [k] their classes) for the k classes with a filled slot."""
        seen = (self.filled > 0).nonzero().flatten()
        sums = self.queue[seen].sum(1)  # empty slots are zero
        return sums / self.filled[seen, None].float(), seen


class Contrast:
    """``L_con`` added to a stage objective: ``parts["loss"] += weight * L_con(h, y)`` against
    the class prototypes of the vectors seen so far, which are then updated with this batch."""

    def __init__(self, classes: int, dim: int, *, weight: float, tau: float = 0.1, size: int = 64):
        self.weight, self.tau = weight, tau
        self.prototypes = Prototypes(classes, dim, size)

    def add(self, parts: dict[str, torch.Tensor], h: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        keep = labels != IGNORE  # labelled utterances only
        h, labels = h.reshape(-1, h.shape[-1])[keep.reshape(-1)], labels.reshape(-1)[keep.reshape(-1)]
        self.prototypes.to(h.device)
        bank, bank_labels = self.prototypes.current()
        con = supervised_contrastive_loss(h, labels, bank=bank, bank_labels=bank_labels, tau=self.tau)
        if h.requires_grad:  # training, not a dev pass
            self.prototypes.push(h, labels)
        return {**parts, "loss": parts["loss"] + self.weight * con, "contrastive": con.detach()}


def with_contrast(parts: dict[str, torch.Tensor], contrast: Contrast | None, h: torch.Tensor,
                  labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``contrast.add(parts, h, labels)``, or ``parts`` unchanged when the stage has no ``L_con``."""
    return parts if contrast is None else contrast.add(parts, h, labels)
