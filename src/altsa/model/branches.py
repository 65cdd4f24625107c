"""Per-modality branches: encoder vector -> latent ``h`` in R^d -> the branch's own logits ``z``.

Spec 1: "Each encoder has a linear head giving its own logits"; spec 2: "Student vectors are
first projected to the teacher's dimension d". The text branch is the teacher's head, the
audio and video branches are the students' heads. Absent utterances get ``h = 0`` exactly, so
nothing downstream (fusion, distillation) ever reads a projected bias as if it were signal.
"""

from __future__ import annotations

import torch
from torch import nn

from altsa.errors import ConfigError


def build_projection(in_dim: int, d: int, kind: str, dropout: float) -> nn.Module:
    """``linear`` is the spec's projection; ``mlp`` adds one hidden layer (an option we measure)."""
    if kind == "linear":
        return nn.Linear(in_dim, d)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d))
    raise ConfigError(f"unknown model.projection {kind!r}; choose one of: linear, mlp")


class ModalityBranch(nn.Module):
    """Projection to ``d`` plus a linear classification head.

    Args:
        in_dim: size of the encoder's utterance vector (e.g. 384 for MiniLM, 1024 for RoBERTa-large).
        d: shared latent size.
        num_classes: number of labels.
        projection: ``"linear"`` (default) or ``"mlp"``.
        dropout: dropout on ``h`` before the head.
        input_dropout: dropout on the raw encoder vector.
        input_norm: ``"none"`` or ``"layernorm"`` (learnt, on the raw encoder vector).
    """

    def __init__(
        self,
        in_dim: int,
        d: int,
        num_classes: int,
        *,
        projection: str = "linear",
        dropout: float = 0.1,
        input_dropout: float = 0.0,
        input_norm: str = "none",
    ):
        super().__init__()
        self.in_dim = in_dim
        if input_norm not in ("none", "layernorm"):
            raise ConfigError(f"unknown model.input_norm {input_norm!r}; choose one of: none, layernorm")
        # frozen encoders emit vectors of very different scales (MiniLM mean pooling: small; L2
        # normalised: tiny); a LayerNorm puts every modality on one footing before projecting
        self.input_norm = nn.LayerNorm(in_dim) if input_norm == "layernorm" else nn.Identity()
        self.input_dropout = nn.Dropout(input_dropout)
        self.proj = build_projection(in_dim, d, projection, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [..., in_dim], present [...] bool -> (h [..., d] zero where absent, z [..., C])."""
        h = self.proj(self.input_dropout(self.input_norm(x))) * present.unsqueeze(-1).to(x.dtype)  # [..., d]
        z = self.head(self.dropout(h))  # [..., C]
        return h, z
