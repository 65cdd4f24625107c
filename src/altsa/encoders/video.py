"""The video encoder: a student of ALTSA (spec: ALTSA.md, section 1; paper: TimeSformer-base).

Any Hugging Face video transformer (TimeSformer, VideoMAE, ViViT) with its image processor.
Input: ``[frames, H, W, 3]`` uint8 RGB clips, frames already sampled uniformly over the clip
by media decoding (``media.num_frames``, 8 for TimeSformer-base); the processor resizes and
crops (224x224 for the paper's model). Output per clip: the CLS token (``cls``) or the mean
over all tokens (``mean``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from altsa.encoders.base import ENCODERS, EncoderConfig
from altsa.encoders.hf import (
    LazyModule,
    check_options,
    hidden_size,
    load_pretrained,
    make_fingerprint,
    media_settings,
    model_identity,
    quiet_transformers,
)
from altsa.errors import ConfigError

VIDEO_POOLINGS = ("cls", "mean")
VIDEO_OPTIONS: dict[str, Any] = {}


@ENCODERS.register("hf-video")
class HFVideoEncoder(LazyModule):
    """Any HF video encoder + ``AutoImageProcessor``; ``encode(clips) -> [n, dim]``.

    ``module`` is the ``nn.Module`` for end-to-end fine-tuning; ``forward(clips)`` runs with
    gradients when the caller allows them.
    """

    modality = "video"

    def __init__(self, cfg: EncoderConfig, device: str | torch.device = "cpu"):
        from transformers import AutoConfig, AutoImageProcessor

        self.cfg = cfg
        self.options = check_options(cfg.options, VIDEO_OPTIONS, "hf-video")
        self.pooling = "cls" if cfg.pooling == "default" else cfg.pooling
        if self.pooling not in VIDEO_POOLINGS:
            raise ConfigError(f"hf-video pooling {cfg.pooling!r}: choose one of default, {', '.join(VIDEO_POOLINGS)}")
        self.device = torch.device(device)
        self.media = cfg.media
        self.hf_config = load_pretrained(AutoConfig, cfg.model, cfg.revision, "config")
        self.processor = load_pretrained(AutoImageProcessor, cfg.model, cfg.revision, "image processor")
        self.dim = hidden_size(self.hf_config, cfg.model, "hf-video")
        self.fingerprint = make_fingerprint(
            "hf-video",
            "video",
            model_identity(cfg.model, cfg.revision),
            {"pooling": self.pooling, "media": media_settings(cfg.media), **self.options},
        )
        self.frozen = cfg.freeze and cfg.unfreeze_last == 0

    def prepare(self, clips: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """Clips -> the model's CPU input: ``pixel_values [n, frames, 3, h, w]`` (resized, cropped,
        normalised by the processor). Apart from ``forward_prepared`` so a training loop can
        build batches on the CPU and move plain tensors to its device."""
        videos = [list(np.asarray(c, dtype=np.uint8)) for c in clips]  # n x frames x [H, W, 3]
        with quiet_transformers():
            return {"pixel_values": self.processor(videos, return_tensors="pt")["pixel_values"]}

    def forward_prepared(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``prepare``'s tensors -> ``[n, dim]`` (differentiable if grad is enabled)."""
        hidden = self.module(pixel_values=batch["pixel_values"].to(self.device)).last_hidden_state  # [n, tokens, d]
        return hidden[:, 0] if self.pooling == "cls" else hidden.mean(1)  # [n, d]

    def forward(self, clips: list[np.ndarray]) -> torch.Tensor:
        """One batch of clips -> ``[n, dim]`` (differentiable if grad is enabled)."""
        return self.forward_prepared(self.prepare(clips))

    def blank(self) -> np.ndarray:
        """A black clip of ``media.num_frames`` frames at the model's input size (a memory probe's input)."""
        size = int(getattr(self.hf_config, "image_size", 224))
        return np.zeros((self.media.num_frames, size, size, 3), dtype=np.uint8)

    def save_pretrained(self, path: str | Path) -> None:
        """Write model + image processor; load it back with ``model: path`` (a fine-tuned student)."""
        with quiet_transformers():
            self.module.save_pretrained(path)
            self.processor.save_pretrained(path)

    def encode(self, items: list[np.ndarray]) -> torch.Tensor:
        """Clips -> ``[n, dim]`` float32 on the CPU, no grad."""
        out = torch.zeros(len(items), self.dim)
        frames = [len(c) for c in items]
        order = sorted(range(len(items)), key=lambda i: frames[i])  # a batch holds one frame count
        batches: list[list[int]] = []
        for i in order:
            if batches and len(batches[-1]) < self.cfg.batch_size and frames[batches[-1][0]] == frames[i]:
                batches[-1].append(i)
            else:
                batches.append([i])
        model = self.module
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for idx in batches:
                    out[torch.tensor(idx)] = self.forward([items[i] for i in idx]).float().cpu()
        finally:
            model.train(was_training)
        return out

    def __repr__(self) -> str:
        return f"HFVideoEncoder({self.cfg.model!r}, pooling={self.pooling}, dim={self.dim})"
