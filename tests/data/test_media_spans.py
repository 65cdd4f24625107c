"""Utterance spans of one long recording: ``decode_audio``/``decode_video`` with ``span=``
read only that stretch, and give what the whole file's decode holds there."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from altsa.data.media import Absent, MediaConfig, decode_audio, decode_video, decode_video_spans
from altsa.recordings.synthetic import write

RATE = 16000
SECONDS = 12.0
CFG = MediaConfig(max_seconds=600)


def signal(seconds: float = SECONDS, seed: int = 0) -> np.ndarray:
    """A gliding tone in noise: any sample shift or wrong stretch changes it visibly."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    wave = 0.3 * np.sin(2 * np.pi * (200 * t + 40 * t**2)) + 0.05 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


# (suffix, writer options): 16 kHz as decoded, 22.05 kHz stereo and 44.1 kHz (resampled on a
# 441-sample grid), MP3 (seeking lands mid bit-reservoir), FLAC at 48 kHz, and an odd rate
FORMATS = {
    "wav16": ("wav", {}),
    "wav22-stereo": ("wav", {"rate": 22050, "channels": 2}),
    "mp3-44k": ("mp3", {"rate": 44100, "fmt": "mp3", "codec": "libmp3lame"}),
    "flac-48k": ("flac", {"rate": 48000, "fmt": "flac", "codec": "flac"}),
    "wav-44056": ("wav", {"rate": 44056}),
}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("spans")
    wave = signal()
    return {name: write(folder / f"{name}.{suffix}", wave, **kw) for name, (suffix, kw) in FORMATS.items()}


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_span_decodes_to_the_slice_of_the_whole_decode(recordings, name):
    path = recordings[name]
    whole = decode_audio(path, CFG)
    assert isinstance(whole, np.ndarray) and whole.size == pytest.approx(SECONDS * RATE, abs=RATE * 0.1)
    for start, end in [(0.2, 1.3), (3.217, 5.1), (8.0, 11.5), (11.0, None), (None, 2.0)]:
        part = decode_audio(path, CFG, span=(start, end))
        lo = round((start or 0.0) * RATE)
        hi = whole.size if end is None else round(end * RATE)
        assert isinstance(part, np.ndarray) and part.size == hi - lo, (start, end)
        # seeking starts 0.5 s early on the resampler's grid: the very samples of the whole decode
        np.testing.assert_allclose(part, whole[lo:hi], atol=1e-5, err_msg=f"{name} {start}-{end}")
        shifted = whole[lo + 1 : hi + 1]
        assert np.abs(part[: shifted.size] - shifted).max() > 0.01  # a one-sample shift would show


def test_a_span_from_bytes_and_from_an_array(recordings):
    path = recordings["wav22-stereo"]
    whole = decode_audio(path, CFG)
    from_bytes = decode_audio(path.read_bytes(), CFG, span=(4.0, 6.5))
    np.testing.assert_allclose(from_bytes, whole[4 * RATE : int(6.5 * RATE)], atol=1e-5)
    wave = signal()
    np.testing.assert_array_equal(decode_audio(wave, CFG, span=(1.0, 2.5)), wave[RATE : int(2.5 * RATE)])
    assert decode_audio(wave, CFG, span=(20.0, 21.0)).reason == "span_outside_file"


def test_spans_past_the_end_and_malformed_spans_are_absent_with_reasons(recordings):
    path = recordings["mp3-44k"]
    whole = decode_audio(path, CFG)
    tail = decode_audio(path, CFG, span=(11.5, 20.0))  # runs past the end: the audio up to it
    np.testing.assert_allclose(tail, whole[int(11.5 * RATE) :], atol=1e-5)
    for name in ("wav16", "mp3-44k"):
        out = decode_audio(recordings[name], CFG, span=(13.0, 14.0))
        assert isinstance(out, Absent) and out.reason == "span_outside_file", out
    for span in [(3.0, 2.0), (2.0, 2.0), (-1.0, 2.0), (float("nan"), 2.0), (None, 0.0), (1.0, float("inf"))]:
        out = decode_audio(path, CFG, span=span)
        assert isinstance(out, Absent) and out.reason == "bad_span", (span, out)
        assert decode_video(path, CFG, span=span).reason == "bad_span"
    assert decode_audio(path.parent / "gone.wav", CFG, span=(1.0, 2.0)).reason == "missing_file"


def test_max_seconds_applies_to_the_span_not_the_file(recordings):
    path = recordings["wav16"]
    whole = decode_audio(path, CFG)
    # a 12 s file and a 30 s cap: whole-file rules would skip nothing; the span's own length counts
    cut = decode_audio(path, MediaConfig(max_seconds=1.0), span=(2.0, 5.0))
    np.testing.assert_allclose(cut, whole[2 * RATE : 3 * RATE], atol=1e-5)
    assert decode_audio(path, MediaConfig(max_seconds=1.0, long_clips="skip"), span=(2.0, 5.0)).reason == "too_long"
    short = decode_audio(path, MediaConfig(max_seconds=5.0, long_clips="skip"), span=(9.0, 11.0))
    assert isinstance(short, np.ndarray) and short.size == 2 * RATE  # the file is longer than 5 s: no matter


def grey_video(path: Path, seconds: float, fps: int = 10) -> Path:
    """Frame k is a flat grey of level 2k: the decoded level tells the time (0.05 s per level)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width = vs.height = 32
        vs.pix_fmt = "yuv420p"
        vs.codec_context.gop_size = 12
        for k in range(int(seconds * fps)):
            img = np.full((32, 32, 3), 2 * k, np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode(None))
    return path


def test_video_span_samples_frames_over_the_span_only(tmp_path):
    path = grey_video(tmp_path / "talk.mp4", 12.0)
    cfg = MediaConfig(num_frames=4)
    frames = decode_video(path, cfg, span=(5.0, 7.0))
    assert frames.shape == (4, 32, 32, 3)
    # the centres of four equal segments of 5-7 s: 5.25, 5.75, 6.25, 6.75 s -> levels 2 * 10 * t
    np.testing.assert_allclose(frames.reshape(4, -1).mean(1), [105, 115, 125, 135], atol=2.5)
    together = decode_video_spans(path, [(0.0, 1.0), (5.0, 7.0), (13.0, 14.0), (2.0, 1.0)], cfg)
    np.testing.assert_array_equal(together[1], frames)  # one pass for several spans: the same frames
    assert [getattr(o, "reason", "ok") for o in together] == ["ok", "ok", "span_outside_file", "bad_span"]
    long = decode_video(path, MediaConfig(num_frames=2, max_seconds=2.0), span=(2.0, 10.0))
    np.testing.assert_allclose(long.reshape(2, -1).mean(1), [50, 70], atol=2.5)  # over 2-4 s: the cut
    skip = decode_video(path, MediaConfig(num_frames=2, max_seconds=2.0, long_clips="skip"), span=(2.0, 10.0))
    assert skip.reason == "too_long"
    assert decode_video(np.zeros((4, 8, 8, 3), np.uint8), cfg, span=(0.0, 1.0)).reason == "bad_span"
