"""Stage objectives as dicts of named parts ``{"loss", "ce", "kd_logit", "kd_feature"}``
(STYLE 5), so logging and ablations need no special cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from altsa.losses.relation import relation_loss
from altsa.losses.similarity import similarity_loss

IGNORE = -100  # label of padding and unlabelled utterances


def class_weights(counts: Sequence[int], scheme: str | Sequence[float]) -> torch.Tensor | None:
    """Per-class CE weights from training label counts.

    ``none``: unweighted; ``balanced``: n / (C * count_c) (sklearn's "balanced");
    ``sqrt``: its square root (a milder push towards rare classes such as fear and disgust);
    or an explicit list, one weight per class.
    """
    if not isinstance(scheme, str):
        w = torch.tensor([float(x) for x in scheme])
        if len(w) != len(counts):
            raise ValueError(f"train.class_weights has {len(w)} values for {len(counts)} classes")
        return w
    if scheme == "none":
        return None
    c = torch.tensor([max(int(x), 1) for x in counts], dtype=torch.float32)
    balanced = c.sum() / (len(c) * c)
    if scheme == "balanced":
        return balanced
    if scheme == "sqrt":
        return balanced.sqrt()
    raise ValueError(f"unknown class weighting {scheme!r}; choose none, balanced, sqrt or a list")


def _zero(ref: torch.Tensor) -> torch.Tensor:
    return ref.sum() * 0.0


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> dict[str, torch.Tensor]:
    """CE over labelled positions (labels != IGNORE), any leading shape. Teacher and fusion stages."""
    logits = logits.reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1)
    keep = labels != IGNORE
    if not keep.any():
        ce = _zero(logits)
    else:
        w = weight.to(logits.device) if weight is not None else None
        ce = F.cross_entropy(logits[keep], labels[keep], weight=w, label_smoothing=label_smoothing)
    return {"loss": ce, "ce": ce, "kd_logit": _zero(logits).detach(), "kd_feature": _zero(logits).detach()}


@dataclass
class DistillWeights:
    """Hyperparameters of the student objective (spec 2)."""

    tau: float = 4.0
    beta: float = 1.0
    gamma: float = 1.0
    tau_f: float = 1.0
    lambda_logit: float = 1.0
    lambda_feat: float = 1.0
    distill: bool = True  # False: CE only (the "without distillation" ablation)


def student_loss(
    z_s: torch.Tensor,
    h_s: torch.Tensor,
    z_t: torch.Tensor,
    h_t: torch.Tensor,
    labels: torch.Tensor,
    hp: DistillWeights,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> dict[str, torch.Tensor]:
    """``L_s = CE(z_s, y) + lambda_logit L_rel(z_s, z_t) + lambda_feat L_sim(h_s, h_t)`` over the
    utterances of a batch where student and teacher are both present (flattened: [n, ...]).
    Teacher outputs are detached: the teacher is frozen in this stage.

    An ensemble of K teachers (text -> text distillation) gives ``h_t`` as [n, K, d]: ``L_sim``
    is then the mean of the K teachers' ``L_sim`` (each teacher's vectors live in a space of
    their own, so they are not averaged); ``z_t`` is one [n, C] target (the caller averages logits)."""
    parts = classification_loss(z_s, labels, weight=weight, label_smoothing=label_smoothing)
    if hp.distill and z_s.shape[0] > 0:
        kd_logit = relation_loss(z_s, z_t.detach(), tau=hp.tau, beta=hp.beta, gamma=hp.gamma)
        teachers = h_t.detach().unsqueeze(1) if h_t.dim() == 2 else h_t.detach()  # [n, K, d]
        kd_feature = torch.stack([similarity_loss(h_s, teachers[:, k], tau_f=hp.tau_f)
                                  for k in range(teachers.shape[1])]).mean()
        parts["kd_logit"], parts["kd_feature"] = kd_logit, kd_feature
        parts["loss"] = parts["ce"] + hp.lambda_logit * kd_logit + hp.lambda_feat * kd_feature
    return parts
