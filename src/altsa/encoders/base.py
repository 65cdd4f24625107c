"""The encoder interface shared by every modality, its config, and the encoder registry.

An encoder turns a batch of one modality's inputs into utterance vectors ``[n, dim]``;
its ``fingerprint`` names everything that changes those vectors (model, revision,
preprocessing), so the feature cache never reuses stale vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from altsa.data.media import MediaConfig
from altsa.registry import Registry


@runtime_checkable
class Encoder(Protocol):
    modality: str  # "text" | "audio" | "video"
    dim: int  # size of one utterance vector
    fingerprint: str  # stable id of model + revision + preprocessing

    def encode(self, items: list[Any]) -> torch.Tensor:  # [n, dim] float32
        ...


@dataclass
class EncoderConfig:
    """How to build one modality's encoder. ``kind`` names a builder in ``ENCODERS``."""

    kind: str = ""  # registry name, e.g. "hf-text"; "" in an override: keep the preset's
    model: str = ""  # Hugging Face id, local directory or "package:NAME"; "" in an override: the preset's
    revision: str | None = None  # hub revision (part of the fingerprint)
    pooling: str = "default"  # per kind: e.g. "prompt" (text teacher), "mean", "first", "cls"
    max_length: int = 512  # text: tokens; the input is right-truncated (keeps the end)
    text_mode: str = "context"  # text: "context" (teacher input of the spec) or "plain"
    freeze: bool = True  # frozen encoders make the feature cache valid
    unfreeze_last: int = 0  # with freeze=True, still train the last N layers
    batch_size: int = 32
    media: MediaConfig = field(default_factory=MediaConfig)
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific extras


ENCODERS: Registry = Registry("encoder kind")  # kind -> builder(EncoderConfig) -> Encoder


def build_encoder(cfg: EncoderConfig, device: str | torch.device = "cpu") -> Encoder:
    return ENCODERS.get(cfg.kind)(cfg, device=device)
