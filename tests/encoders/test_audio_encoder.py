"""The audio student encoder on a tiny Data2VecAudio loaded like the paper's checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from altsa.data.media import MediaConfig
from altsa.encoders import EncoderConfig, build_encoder
from altsa.errors import ConfigError


def waves(*lengths: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]


def test_vectors_do_not_depend_on_batch_company(tiny_data2vec: Path) -> None:
    enc = build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec)))
    clips = waves(8000, 4000, 12000, 300, 20000)
    batched = enc.encode(clips)
    assert batched.shape == (5, 32) and batched.dtype == torch.float32
    single = torch.cat([enc.encode([c]) for c in clips])
    assert torch.allclose(batched, single, atol=1e-5)
    assert torch.allclose(enc.encode(clips[::-1]).flip(0), batched, atol=1e-5)


def test_mean_pooling_ignores_padding_frames(tiny_data2vec: Path) -> None:
    exact = build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec), options={"bucket_seconds": 0}))
    clip = waves(8000)[0]
    alone = exact.encode([clip])
    with torch.inference_mode():  # the same clip padded with 1 s of zeros, padding masked
        padded = exact.forward([clip], pad_to=24000)
    assert torch.allclose(padded, alone, atol=0.05)  # only positional-conv leakage remains
    unmasked = exact.encode([np.pad(clip, (0, 16000))])  # zeros counted as audio
    assert (unmasked - alone).abs().max() > (padded - alone).abs().max()


def test_first_pooling_and_settings(tiny_data2vec: Path) -> None:
    mean = build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec)))
    first = build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec), pooling="first"))
    clip = waves(12000)
    assert not torch.allclose(mean.encode(clip), first.encode(clip))
    assert mean.fingerprint != first.fingerprint
    longer = build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec), media=MediaConfig(max_seconds=10)))
    assert longer.fingerprint != mean.fingerprint  # media settings are part of it
    with pytest.raises(ConfigError, match="expects 16000 Hz"):
        build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec), media=MediaConfig(sample_rate=8000)))
    with pytest.raises(ConfigError, match="pooling"):
        build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec), pooling="cls"))


def test_partial_unfreezing_trains_the_last_layers(tiny_data2vec: Path) -> None:
    enc = build_encoder(EncoderConfig(kind="hf-audio", model=str(tiny_data2vec), unfreeze_last=1))
    assert not enc.frozen
    names = {n for n, p in enc.module.named_parameters() if p.requires_grad}
    assert names and all(n.startswith("encoder.layers.1.") for n in names)
    out = enc.forward(waves(8000))
    out.sum().backward()
    assert enc.module.encoder.layers[1].attention.q_proj.weight.grad is not None
