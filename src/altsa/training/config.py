"""Training hyperparameters for the three stages (spec: ALTSA.md, "Training stages")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    epochs: int = 20
    lr: float = 1e-3
    batch_dialogues: int = 16  # fusion stage: dialogues per batch
    tau: float = 4.0  # logit relation temperature
    beta: float = 1.0  # inter-class relation weight
    gamma: float = 1.0  # intra-class relation weight
    tau_f: float = 1.0  # feature similarity temperature
    lambda_logit: float = 1.0
    lambda_feat: float = 1.0
    distill: bool = True  # False: students trained with CE only (ablation)
