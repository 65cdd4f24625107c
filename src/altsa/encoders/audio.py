"""The audio encoder: a student of ALTSA (spec: ALTSA.md, section 1; paper: Data2VecAudio-base).

Any Hugging Face speech encoder of the wav2vec2 family (Data2VecAudio, wav2vec2, HuBERT,
WavLM) with its feature extractor. Input: float32 mono waveforms at ``media.sample_rate``
(16 kHz), already cut to ``media.max_seconds`` by media decoding. Output per clip: the mean
over its valid frames (``mean``, padding excluded) or the first frame (``first``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from altsa.encoders.base import ENCODERS, EncoderConfig
from altsa.encoders.hf import (
    LazyModule,
    check_options,
    hidden_size,
    length_order,
    load_pretrained,
    make_fingerprint,
    media_settings,
    model_identity,
    quiet_transformers,
)
from altsa.errors import ConfigError

AUDIO_POOLINGS = ("mean", "first")
AUDIO_OPTIONS: dict[str, Any] = {
    "min_samples": 1600,  # shorter clips are zero-padded to 0.1 s (the conv stack needs >= 400)
    # Every clip is padded (attention-masked) to the next multiple of this many seconds and
    # batched only with clips of the same padded length. Padding is not invisible to every
    # model (Data2VecAudio's stacked positional convolutions see it), so this keeps a clip's
    # vector independent of which clips share its batch (one process or eight: same cache).
    # 0: no padding at all, batches of identical lengths only.
    "bucket_seconds": 1.0,
}


def frame_mask(num_frames: int, samples: torch.Tensor, model: Any, padded: int) -> torch.Tensor:
    """``[n, num_frames]`` bool: which output frames come from real samples (not padding)."""
    if hasattr(model, "_get_feat_extract_output_lengths"):
        lengths = model._get_feat_extract_output_lengths(samples).to(torch.long)  # [n]
    else:  # proportional fallback for models without the conv-stack formula
        lengths = torch.tensor([math.ceil(num_frames * int(s) / max(padded, 1)) for s in samples])
    lengths = lengths.clamp(min=1, max=num_frames)
    return torch.arange(num_frames).unsqueeze(0) < lengths.unsqueeze(1)  # [n, T]


@ENCODERS.register("hf-audio")
class HFAudioEncoder(LazyModule):
    """Any HF audio encoder + ``AutoFeatureExtractor``; ``encode(waveforms) -> [n, dim]``.

    ``module`` is the ``nn.Module`` for end-to-end fine-tuning; ``forward(waveforms)`` runs
    with gradients when the caller allows them.
    """

    modality = "audio"

    def __init__(self, cfg: EncoderConfig, device: str | torch.device = "cpu"):
        from transformers import AutoConfig, AutoFeatureExtractor

        self.cfg = cfg
        self.options = check_options(cfg.options, AUDIO_OPTIONS, "hf-audio")
        self.pooling = "mean" if cfg.pooling == "default" else cfg.pooling
        if self.pooling not in AUDIO_POOLINGS:
            raise ConfigError(f"hf-audio pooling {cfg.pooling!r}: choose one of default, {', '.join(AUDIO_POOLINGS)}")
        self.device = torch.device(device)
        self.media = cfg.media
        self.hf_config = load_pretrained(AutoConfig, cfg.model, cfg.revision, "config")
        self.extractor = load_pretrained(AutoFeatureExtractor, cfg.model, cfg.revision, "feature extractor")
        rate = getattr(self.extractor, "sampling_rate", None)
        if rate is not None and int(rate) != int(cfg.media.sample_rate):
            raise ConfigError(
                f"{cfg.model}: the model expects {rate} Hz audio but media.sample_rate is {cfg.media.sample_rate}"
            )
        self.dim = hidden_size(self.hf_config, cfg.model, "hf-audio")
        self.fingerprint = make_fingerprint(
            "hf-audio",
            "audio",
            model_identity(cfg.model, cfg.revision),
            {"pooling": self.pooling, "media": media_settings(cfg.media), **self.options},
        )
        self.frozen = cfg.freeze and cfg.unfreeze_last == 0

    def _padded_length(self, samples: int) -> int:
        samples = max(samples, int(self.options["min_samples"]))
        bucket = int(round(float(self.options["bucket_seconds"]) * self.media.sample_rate))
        return samples if bucket <= 0 else -(-samples // bucket) * bucket

    def prepare(self, waves: list[np.ndarray], *, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        """Waveforms -> the model's CPU input tensors: ``input_values [n, samples]``,
        ``attention_mask`` (when the extractor makes one) and ``lengths [n]`` (real samples).

        Each wave is zero-padded to ``pad_to`` samples (default: the bucket of the longest).
        Separate from ``forward_prepared`` so a training loop can build batches on the CPU
        (in a loader thread) and move plain tensors to its device."""
        low = int(self.options["min_samples"])
        waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waves]
        waves = [np.pad(w, (0, low - w.size)) if w.size < low else w for w in waves]  # too short: silence, kept
        lengths = [w.size for w in waves]
        target = pad_to or self._padded_length(max(lengths))
        with quiet_transformers():
            batch = self.extractor(
                waves, sampling_rate=self.media.sample_rate, padding="max_length", max_length=target,
                truncation=False, return_tensors="pt", return_attention_mask=True,
            )
        out = {"input_values": batch["input_values"], "lengths": torch.tensor(lengths)}  # [n, samples], [n]
        if getattr(self.extractor, "return_attention_mask", False):
            out["attention_mask"] = batch["attention_mask"]
        return out

    def forward_prepared(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``prepare``'s tensors -> ``[n, dim]`` (differentiable if grad is enabled); frames
        from padding are masked out of the model's attention and of mean pooling."""
        values = batch["input_values"].to(self.device)  # [n, samples]
        kwargs = {}
        if "attention_mask" in batch:
            kwargs["attention_mask"] = batch["attention_mask"].to(self.device)
        hidden = self.module(values, **kwargs).last_hidden_state  # [n, T, d]
        if self.pooling == "first":
            return hidden[:, 0]
        mask = frame_mask(hidden.shape[1], batch["lengths"].cpu(), self.module, values.shape[1])  # [n, T]
        m = mask.to(hidden.device).unsqueeze(-1).to(hidden.dtype)  # [n, T, 1]
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)  # [n, d]

    def forward(self, waves: list[np.ndarray], *, pad_to: int | None = None) -> torch.Tensor:
        """One batch of waveforms -> ``[n, dim]`` (differentiable if grad is enabled)."""
        return self.forward_prepared(self.prepare(waves, pad_to=pad_to))

    def blank(self) -> np.ndarray:
        """The longest input this encoder takes (silence of ``media.max_seconds``): a memory
        probe's worst case."""
        return np.zeros(int(self.media.max_seconds * self.media.sample_rate), dtype=np.float32)

    def save_pretrained(self, path: str | Path) -> None:
        """Write model + feature extractor; load it back with ``model: path`` (a fine-tuned student)."""
        with quiet_transformers():
            self.module.save_pretrained(path)
            self.extractor.save_pretrained(path)

    def encode(self, items: list[np.ndarray]) -> torch.Tensor:
        """Waveforms -> ``[n, dim]`` float32 on the CPU, no grad; batches share a padded length."""
        out = torch.zeros(len(items), self.dim)
        targets = [self._padded_length(int(np.asarray(w).size)) for w in items]
        groups: dict[int, list[int]] = {}
        for i in length_order(targets):
            groups.setdefault(targets[i], []).append(i)
        model = self.module
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for target, members in groups.items():
                    for start in range(0, len(members), self.cfg.batch_size):
                        idx = members[start : start + self.cfg.batch_size]
                        vectors = self.forward([items[i] for i in idx], pad_to=target)
                        out[torch.tensor(idx)] = vectors.float().cpu()
        finally:
            model.train(was_training)
        return out

    def __repr__(self) -> str:
        return f"HFAudioEncoder({self.cfg.model!r}, pooling={self.pooling}, dim={self.dim})"
