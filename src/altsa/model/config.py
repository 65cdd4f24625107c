"""Model hyperparameters (spec: ALTSA.md, "Architecture"). Every open choice is a field here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    d: int = 256  # shared latent size: every modality is projected to d (spec 2: "projected to d")
    fusion: str = "altsa"  # registry name: altsa | telme-shift | concat
    context: str = "bilstm"  # registry name: bilstm | lstm | none
    causal: bool = False  # live mode: attention sees j <= i, one-directional LSTM
    heads: int = 4  # cross-modal attention heads
    dropout: float = 0.1
    modality_dropout: float = 0.0  # probability of dropping audio/video per utterance in training
