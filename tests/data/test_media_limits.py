"""Decoding untrusted clips under ``MediaLimits``: header caps before any decoding, the same
caps while decoding, a deadline that stops the work, frames scaled as they are read."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from altsa.data.media import (
    Absent,
    DecodeTimeout,
    MediaConfig,
    MediaLimits,
    current_limits,
    decode_audio,
    decode_video,
    media_limits,
)
from altsa.data.synthetic import video_bytes, wav_bytes

CFG = MediaConfig(num_frames=4)


@pytest.fixture(scope="module")
def clip() -> bytes:
    return video_bytes(64, 48, 20)


def test_limits_do_not_change_what_a_legitimate_clip_decodes_to(clip) -> None:
    limits = MediaLimits(max_pixels=1920 * 1080, max_frames=1800, max_channels=8, max_sample_rate=192000,
                         deadline=time.monotonic() + 60)  # fmt: skip
    assert np.array_equal(decode_video(clip, CFG), decode_video(clip, CFG, limits=limits))
    wav = wav_bytes(1.0)
    assert np.array_equal(decode_audio(wav, CFG), decode_audio(wav, CFG, limits=limits))


def test_header_caps_refuse_before_decoding(clip) -> None:
    out = decode_video(clip, CFG, limits=MediaLimits(max_pixels=64 * 48 - 1))
    assert out == Absent("too_large", "64x48 frames (3072 pixels) > max_pixels 3071")
    out = decode_video(clip, CFG, limits=MediaLimits(max_frames=19))
    assert out == Absent("too_large", "20 frames > max_frames 19")
    assert isinstance(decode_video(clip, CFG, limits=MediaLimits(max_pixels=64 * 48, max_frames=20)), np.ndarray)
    out = decode_audio(wav_bytes(0.5), CFG, limits=MediaLimits(max_sample_rate=8000))
    assert out == Absent("too_large", "sample rate 16000 Hz > max 8000")
    out = decode_audio(wav_bytes(0.5, layout="stereo"), CFG, limits=MediaLimits(max_channels=1))
    assert out == Absent("too_large", "2 audio channels > max 1")


def test_frame_count_is_capped_while_decoding_a_stream_without_a_count() -> None:
    raw = video_bytes(32, 32, 12, fmt="h264")  # an elementary stream: no duration, no frame count
    out = decode_video(raw, CFG, limits=MediaLimits(max_frames=5))
    assert out == Absent("too_large", "more than max_frames 5 frames")


def test_a_passed_deadline_stops_decoding_with_an_error(clip) -> None:
    """Not an absent modality (that would silently drop it): the job itself stops."""
    late = MediaLimits(deadline=time.monotonic() - 1)
    with pytest.raises(DecodeTimeout):
        decode_video(clip, CFG, limits=late)
    with pytest.raises(DecodeTimeout):
        decode_audio(wav_bytes(0.5), CFG, limits=late)


def test_media_limits_apply_to_calls_in_the_block_and_only_there(clip) -> None:
    """The service sets them around a whole job, so the recognizer's own decoding obeys them."""
    tight = MediaLimits(max_pixels=100)
    with media_limits(tight):
        assert current_limits() is tight
        assert decode_video(clip, CFG).reason == "too_large"
    assert current_limits() == MediaLimits()
    assert isinstance(decode_video(clip, CFG), np.ndarray)


def test_frames_are_scaled_as_they_are_read(clip) -> None:
    frames = decode_video(clip, CFG, limits=MediaLimits(frame_side=16))
    assert frames.shape == (4, 12, 16, 3)  # 64x48 scaled to a longest side of 16, aspect kept
    full = decode_video(clip, CFG)
    assert full.shape == (4, 48, 64, 3)
    assert abs(float(frames.mean()) - float(full.mean())) < 2.0  # the same flat picture, smaller


_PEAK = """
import io, json, sys, av, numpy as np
from altsa.data.media import MediaConfig, MediaLimits, decode_video
data = open(sys.argv[1], "rb").read()
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
before = hwm()
limits = MediaLimits(max_pixels=1920 * 1080) if sys.argv[2] == "limited" else None
out = decode_video(data, MediaConfig(num_frames=2), limits=limits)
print(json.dumps({"growth_mb": hwm() - before, "result": getattr(out, "reason", "frames")}))
"""


def test_a_bomb_is_refused_without_decoding_its_frame(tmp_path: Path) -> None:
    """A 4000x4000 frame is 24 MB as YUV and 48 MB as RGB; refused from the header, the
    process's peak memory barely moves (without limits FFmpeg decodes it even to probe)."""
    bomb = tmp_path / "bomb.mp4"
    bomb.write_bytes(video_bytes(4000, 4000, 1))
    assert bomb.stat().st_size < 100_000
    runs = {}
    for mode in ("limited", "open"):
        out = subprocess.run([sys.executable, "-c", _PEAK, str(bomb), mode], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        runs[mode] = json.loads(out.stdout)
    assert runs["limited"]["result"] == "too_large" and runs["limited"]["growth_mb"] < 10, runs
    assert runs["open"]["result"] == "frames" and runs["open"]["growth_mb"] > 40, runs  # the test can tell
