"""The video student encoder on a tiny TimeSformer loaded like the paper's checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from altsa.encoders import EncoderConfig, build_encoder
from altsa.errors import ConfigError


def clips(*shapes: tuple[int, int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (f, h, w, 3), dtype=np.uint8) for f, h, w in shapes]


def test_cls_vectors_for_clips_of_any_size(tiny_timesformer: Path) -> None:
    enc = build_encoder(EncoderConfig(kind="hf-video", model=str(tiny_timesformer)))
    batch = clips((8, 40, 60, 3)[:3], (8, 64, 48), (8, 32, 32))
    out = enc.encode(batch)
    assert out.shape == (3, 32) and enc.pooling == "cls"
    assert torch.allclose(out, torch.cat([enc.encode([c]) for c in batch]), atol=1e-5)
    assert not torch.allclose(out[0], out[1])


def test_mean_pooling_and_mixed_frame_counts(tiny_timesformer: Path) -> None:
    cls = build_encoder(EncoderConfig(kind="hf-video", model=str(tiny_timesformer)))
    mean = build_encoder(EncoderConfig(kind="hf-video", model=str(tiny_timesformer), pooling="mean"))
    batch = clips((8, 32, 32), (4, 32, 32))  # a short clip decoded to fewer frames
    assert not torch.allclose(cls.encode(batch), mean.encode(batch))
    assert cls.fingerprint != mean.fingerprint
    with pytest.raises(ConfigError, match="pooling"):
        build_encoder(EncoderConfig(kind="hf-video", model=str(tiny_timesformer), pooling="first"))
