"""Opening recordings: every container and layout decodes to 16 kHz mono; every bad input is
a one-line MediaError saying what is wrong (files generated here with PyAV)."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from altsa.data.media import Absent, MediaConfig, decode_video_spans
from altsa.errors import MediaError
from altsa.recordings import load_audio, probe
from altsa.recordings.synthetic import write
from recording_helpers import RATE, peak_hz, tone, video_file


@pytest.mark.parametrize(
    "name, fmt, codec, rate, channels",
    [
        ("a.wav", "wav", "pcm_s16le", 22050, 2),
        ("a.wav", "wav", "pcm_f32le", 8000, 1),
        ("a.mp3", "mp3", "libmp3lame", 44100, 2),
        ("a.flac", "flac", "flac", 48000, 1),
        ("a.webm", "webm", "libopus", 48000, 2),
        ("a.mkv", "matroska", "aac", 32000, 2),
    ],
)
def test_containers_rates_and_layouts_decode_to_16k_mono(tmp_path, name, fmt, codec, rate, channels):
    path = write(tmp_path / name, tone(3.0), rate=rate, fmt=fmt, codec=codec, channels=channels)
    info = probe(path, max_minutes=1)
    assert (info.sample_rate, info.channels, info.video) == (rate, channels, False)
    wave, _ = load_audio(path, max_minutes=1)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 3 * RATE) < 0.05 * RATE  # codecs add a few priming/padding samples
    assert abs(peak_hz(wave[RATE // 2 : -RATE // 2]) - 440.0) < 3.0  # the pitch survives resampling
    np.testing.assert_allclose(np.sqrt(np.mean(wave[RATE // 2 : -RATE // 2] ** 2)), 0.3 / np.sqrt(2), rtol=0.1)


def test_bytes_decode_like_the_path(tmp_path):
    path = write(tmp_path / "a.flac", tone(1.0), rate=44100, fmt="flac", codec="flac")
    a, _ = load_audio(path, max_minutes=1)
    b, info = load_audio(path.read_bytes(), max_minutes=1)
    np.testing.assert_array_equal(a, b)
    assert info.name == "<upload>"


def test_video_file_frames_follow_each_span(tmp_path):
    path = video_file(tmp_path / "v.mp4", 12.0, audio=tone(12.0))
    assert probe(path, max_minutes=1).video
    # spans far apart (the second is reached by seeking), frames at the centres of 4 segments
    frames = decode_video_spans(path, [(1.0, 2.0), (9.0, 11.0)], MediaConfig(num_frames=4))
    levels = [[int(round(f.mean() / 2)) for f in clip] for clip in frames]
    # frame k shows 0.1*k s; span (1, 2): centres 1.125 .. 1.875 s -> frames 11/12 .. 18/19
    assert all(abs(a - b) <= 1 for a, b in zip(levels[0], [11, 14, 16, 19]))
    assert all(abs(a - b) <= 1 for a, b in zip(levels[1], [92, 97, 102, 107]))
    assert frames[0].shape == (4, 32, 32, 3)
    # an audio-only file: frames are absent with the reason
    wav = write(tmp_path / "a.wav", tone(1.0))
    assert decode_video_spans(wav, [(0.0, 1.0)], MediaConfig()) == [Absent("no_video_stream")]


def test_not_media_is_an_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a text file, not audio\n" * 50)
    with pytest.raises(MediaError, match="not a readable audio or video file"):
        load_audio(path, max_minutes=1)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "nope.wav", max_minutes=1)
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(tmp_path / "empty.mp3", max_minutes=1)
    with pytest.raises(MediaError, match="empty"):
        load_audio(b"", max_minutes=1)


def test_no_audio_stream_is_named(tmp_path):
    path = video_file(tmp_path / "silent-film.mp4", 1.0, audio=None)
    with pytest.raises(MediaError, match=r"has no audio stream \(streams: video \(h264\)\)"):
        probe(path, max_minutes=1)


def test_unsupported_codec(tmp_path):
    data = bytearray(write(tmp_path / "a.wav", tone(1.0)).read_bytes())
    fmt = data.find(b"fmt ")
    data[fmt + 8 : fmt + 10] = struct.pack("<H", 0x1234)  # a WAVE format tag no decoder knows
    path = tmp_path / "odd.wav"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="unsupported audio codec"):
        load_audio(path, max_minutes=1)


def test_truncated_files_are_errors(tmp_path):
    wav = write(tmp_path / "a.wav", tone(6.0)).read_bytes()
    (tmp_path / "cut.wav").write_bytes(wav[: len(wav) // 3])  # the header still promises 6 s
    with pytest.raises(MediaError, match=r"truncated: 2\.0 s of audio decoded, the file declares 6\.0 s"):
        load_audio(tmp_path / "cut.wav", max_minutes=1)
    webm = write(tmp_path / "a.webm", tone(6.0), rate=48000, fmt="webm", codec="libopus").read_bytes()
    (tmp_path / "cut.webm").write_bytes(webm[: len(webm) // 3])  # the container declares 6 s
    with pytest.raises(MediaError, match="truncated"):
        load_audio(tmp_path / "cut.webm", max_minutes=1)
    flac = write(tmp_path / "a.flac", tone(6.0), rate=44100, fmt="flac", codec="flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(flac[: len(flac) // 3])
    with pytest.raises(MediaError, match="truncated"):
        load_audio(tmp_path / "cut.flac", max_minutes=1)


def test_too_long_is_refused_from_the_header(tmp_path):
    # a 1 s WAV whose header claims two hours: refused for its length (from the header),
    # not found truncated (which decoding it would show)
    data = bytearray(write(tmp_path / "a.wav", tone(1.0)).read_bytes())
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 2 * 3600 * RATE * 2)
    path = tmp_path / "long.wav"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match=r"lasts 120 min \(7200\.0 s\), longer than --max-minutes 60"):
        probe(path, max_minutes=60)
    with pytest.raises(MediaError, match="longer than --max-minutes 60"):
        load_audio(path, max_minutes=60)
    ok = write(tmp_path / "ok.wav", tone(3.0))
    with pytest.raises(MediaError, match=r"lasts 0\.05 min \(3\.0 s\), longer than --max-minutes 0\.02"):
        probe(ok, max_minutes=0.02)
