"""Media decoding on clips generated here with PyAV and on the real clips in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from altsa.data.media import Absent, MediaConfig, active_span, decode_audio, decode_video, summarize

DATA = Path(__file__).resolve().parents[2] / "../shared/data"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_clip(
    path: Path,
    seconds: float = 2.0,
    *,
    fps: int = 10,
    size: int = 32,
    audio: np.ndarray | None = None,
    rate: int = 44100,
    video: bool = True,
    gop: int = 12,
) -> Path:
    """An mp4 (h264 + aac) whose frame k is a flat grey of level 3*k, so the decoded
    brightness tells which frame was picked."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps) if video else None
        if vs is not None:
            vs.width = vs.height = size
            vs.pix_fmt = "yuv420p"
            vs.codec_context.gop_size = gop
        aus = out.add_stream("aac", rate=rate, layout="mono") if audio is not None else None
        if aus is not None:
            chunk = 1024
            for i in range(0, audio.size, chunk):
                frame = av.AudioFrame.from_ndarray(audio[None, i : i + chunk], format="fltp", layout="mono")
                frame.sample_rate = rate
                frame.pts = i
                out.mux(aus.encode(frame))
            out.mux(aus.encode(None))
        if vs is not None:
            for k in range(int(seconds * fps)):
                img = np.full((size, size, 3), min(255, 3 * k), np.uint8)
                out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(vs.encode(None))
    return path


def make_wav(path: Path, wave: np.ndarray, rate: int) -> Path:
    with av.open(str(path), "w", format="wav") as out:
        st = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        out.mux(st.encode(frame))
        out.mux(st.encode(None))
    return path


def peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.fft.rfftfreq(wave.size, 1 / rate)[np.argmax(spectrum)])


def picked_indices(frames: np.ndarray) -> list[int]:
    return [int(round(f.mean() / 3)) for f in frames]


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "tone.mp4", 2.0, audio=tone(2.0, 44100))


def test_audio_and_video_of_a_generated_clip(av_clip: Path):
    cfg = MediaConfig(num_frames=4)
    wave = decode_audio(av_clip, cfg)
    assert isinstance(wave, np.ndarray) and wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 32000) < 0.1 * 16000  # AAC adds a few priming/padding samples
    assert abs(peak_hz(wave, 16000) - 440.0) < 3.0  # resampled 44.1 kHz -> 16 kHz keeps the pitch
    frames = decode_video(av_clip, cfg)
    assert isinstance(frames, np.ndarray) and frames.dtype == np.uint8
    assert frames.shape == (4, 32, 32, 3)
    # 20 frames, 4 picks at the centres of 4 equal segments: about 2, 7, 12, 17
    assert [abs(i - j) <= 1 for i, j in zip(picked_indices(frames), [2, 7, 12, 17])] == [True] * 4


def test_bytes_source_decodes_like_the_path(av_clip: Path):
    cfg = MediaConfig(num_frames=3)
    data = av_clip.read_bytes()
    np.testing.assert_array_equal(decode_audio(data, cfg), decode_audio(av_clip, cfg))
    np.testing.assert_array_equal(decode_video(data, cfg), decode_video(av_clip, cfg))


def test_wav_22050_is_resampled_to_16k(tmp_path: Path):
    wav = make_wav(tmp_path / "t.wav", tone(2.0, 22050), 22050)
    cfg = MediaConfig()
    wave = decode_audio(wav, cfg)
    assert wave.shape == (32000,)
    assert abs(peak_hz(wave, 16000) - 440.0) < 1.0
    assert decode_video(wav, cfg) == Absent("no_video_stream")


@pytest.mark.parametrize(
    "fmt, codec, rate, sample_format, frame_size",
    [("flac", "flac", 44100, "s16", 1024), ("webm", "libopus", 48000, "flt", 960), ("mp3", "libmp3lame", 44100, "fltp", 1152)],
)
def test_other_containers(tmp_path: Path, fmt, codec, rate, sample_format, frame_size):
    path = tmp_path / f"tone.{fmt}"
    wave = tone(2.0, rate)
    with av.open(str(path), "w", format=fmt) as out:
        st = out.add_stream(codec, rate=rate, layout="mono")
        for i in range(0, wave.size, frame_size):
            chunk = wave[None, i : i + frame_size]
            chunk = (chunk * 32767).astype(np.int16) if sample_format == "s16" else chunk
            frame = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
            frame.sample_rate, frame.pts = rate, i
            out.mux(st.encode(frame))
        out.mux(st.encode(None))
    decoded = decode_audio(path, MediaConfig())
    assert abs(decoded.size - 32000) < 800 and abs(peak_hz(decoded, 16000) - 440.0) < 3.0


def test_numpy_source_with_its_own_rate():
    cfg = MediaConfig()
    wave = decode_audio(tone(1.5, 22050, freq=1000.0), cfg, sample_rate=22050)
    assert wave.shape == (24000,)
    assert abs(peak_hz(wave, 16000) - 1000.0) < 2.0
    pcm = (tone(1.0, 16000) * 32767).astype(np.int16)
    as_float = decode_audio(pcm, cfg)
    assert as_float.dtype == np.float32 and 0.29 < np.abs(as_float).max() < 0.31
    stereo = np.stack([tone(1.0, 16000), tone(1.0, 16000)], axis=1)  # [samples, 2]
    assert decode_audio(stereo, cfg).shape == (16000,)


def test_video_only_and_audio_only(tmp_path: Path):
    cfg = MediaConfig(num_frames=2)
    video_only = make_clip(tmp_path / "v.mp4", 1.0)
    assert decode_audio(video_only, cfg) == Absent("no_audio_stream")
    assert decode_video(video_only, cfg).shape == (2, 32, 32, 3)
    audio_only = make_clip(tmp_path / "a.mp4", 1.0, audio=tone(1.0, 44100), video=False)
    assert decode_video(audio_only, cfg) == Absent("no_video_stream")
    assert isinstance(decode_audio(audio_only, cfg), np.ndarray)


def test_bad_files_give_absent_with_a_reason(tmp_path: Path, av_clip: Path):
    cfg = MediaConfig()
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 50)
    data = av_clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) is lost
    for decode in (decode_audio, decode_video):
        assert decode(tmp_path / "missing.mp4", cfg).reason == "missing_file"
        assert decode(tmp_path / "zero.mp4", cfg).reason == "empty"
        assert decode(b"", cfg).reason == "empty"
        junk = decode(tmp_path / "junk.mp4", cfg)
        assert junk.reason == "unreadable" and junk.detail
        assert decode(tmp_path / "cut.mp4", cfg).reason == "unreadable"


def test_truncated_faststart_clip_keeps_what_decodes(tmp_path: Path):
    """With the index first (faststart), a clip cut in half still decodes its first half."""
    path = tmp_path / "fs.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        aus = out.add_stream("aac", rate=16000, layout="mono")
        wave = tone(3.0, 16000)
        for i in range(0, wave.size, 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, i : i + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i
            out.mux(aus.encode(frame))
        out.mux(aus.encode(None))
    data = path.read_bytes()
    half = decode_audio(data[: len(data) // 2], MediaConfig())
    assert isinstance(half, np.ndarray) and 0 < half.size < 40000


def test_zero_length_clip_is_absent(tmp_path: Path):
    """A container written with streams but no packet (like MELD's zero-length clip)."""
    path = tmp_path / "nothing.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width = vs.height = 32
        vs.pix_fmt = "yuv420p"
        out.add_stream("aac", rate=16000, layout="mono")
        out.start_encoding()
    assert path.stat().st_size > 0
    assert decode_video(path, MediaConfig()).reason in ("no_video_stream", "zero_frames")
    assert decode_audio(path, MediaConfig()).reason in ("no_audio_stream", "empty")


def test_silent_audio_is_absent(tmp_path: Path):
    cfg = MediaConfig()
    clip = make_clip(tmp_path / "s.mp4", 1.0, audio=np.zeros(44100, np.float32))
    assert decode_audio(clip, cfg).reason == "silent"
    assert decode_audio(np.zeros(16000, np.float32), cfg).reason == "silent"
    assert decode_audio(np.zeros(0, np.float32), cfg).reason == "empty"


def test_long_clip_cut_or_skipped(tmp_path: Path):
    clip = make_clip(tmp_path / "long.mp4", 3.0, audio=tone(3.0, 16000), rate=16000)
    cut = MediaConfig(max_seconds=1.0, num_frames=4)
    wave = decode_audio(clip, cut)
    assert wave.shape == (16000,)
    assert max(picked_indices(decode_video(clip, cut))) <= 10  # only the first second (10 fps)
    skip = MediaConfig(max_seconds=1.0, long_clips="skip")
    assert decode_audio(clip, skip).reason == "too_long"
    assert decode_video(clip, skip).reason == "too_long"
    assert decode_audio(tone(3.0, 16000), skip).reason == "too_long"


def test_long_clip_frames_are_reached_by_seeking(tmp_path: Path):
    """40 s at 2 fps with a keyframe every 5 s: targets 10 s apart are reached by seeking."""
    clip = make_clip(tmp_path / "seek.mp4", 40.0, fps=2, size=16, gop=10)
    frames = decode_video(clip, MediaConfig(max_seconds=60.0, num_frames=4))
    assert frames.shape == (4, 16, 16, 3)
    expected = [10, 30, 50, 70]  # frame index of 5, 15, 25, 35 s at 2 fps
    assert all(abs(i - j) <= 1 for i, j in zip(picked_indices(frames), expected))


def test_active_span_trims_zero_padding():
    wave = np.concatenate([np.zeros(1600), tone(1.0, 16000), np.zeros(8000)]).astype(np.float32)
    start, end = active_span(wave, 16000, 1e-4)
    assert abs(start - 1600) <= 160 and abs(end - 17600) <= 160


def test_summarize_counts_reasons():
    outcomes = [np.zeros(3), Absent("silent"), np.ones(2), Absent("no_audio_stream"), Absent("silent")]
    assert summarize(outcomes) == {"ok": 2, "silent": 2, "no_audio_stream": 1}


def test_bad_config_is_a_config_error():
    from altsa.errors import ConfigError

    with pytest.raises(ConfigError):
        decode_audio(np.ones(10, np.float32), MediaConfig(long_clips="drop"))


# ---------------------------------------------------------------- real clips (../shared/data)


def test_emodb_wav_22050_gives_32000_samples():
    path = _need(DATA / "emodb" / "03a01Fa.wav")
    with av.open(str(path)) as c:
        assert c.streams.audio[0].rate == 22050
    wave = decode_audio(path, MediaConfig())
    assert wave.shape == (32000,) and wave.dtype == np.float32
    assert np.isfinite(wave).all() and 0.05 < np.abs(wave).max() <= 1.0


def test_mead_clips():
    cfg = MediaConfig()
    mead = _need(DATA / "faces" / "mead" / "W009_front_happy_level3_001.mp4")
    assert decode_audio(mead, cfg) == Absent("no_audio_stream")
    assert decode_video(mead, cfg).shape == (8, 256, 256, 3)
    hd = _need(DATA / "faces" / "mead-av" / "M030_sad_3_001.mp4")
    wave = decode_audio(hd, cfg)  # AAC 48 kHz stereo -> 16 kHz mono
    assert abs(wave.size / 16000 - 3.7) < 0.1 and np.sqrt(np.mean(wave**2)) > 1e-3
    frames = decode_video(hd, MediaConfig(num_frames=2))
    assert frames.shape == (2, 1080, 1920, 3)
    # these AAC tracks hold digital silence (all samples 0): absent, not a zero vector
    assert decode_audio(_need(DATA / "faces" / "mead-av" / "disgusted.mp4"), cfg).reason == "silent"


def test_video_frames_given_as_an_array_are_sampled_like_a_file():
    frames = np.stack([np.full((4, 6, 3), 3 * k, np.uint8) for k in range(20)])  # [20, 4, 6, 3]
    picked = decode_video(frames, MediaConfig(num_frames=4))
    assert picked.shape == (4, 4, 6, 3) and picked.dtype == np.uint8
    assert picked_indices(picked) == [2, 7, 12, 17]  # the centres of 4 equal segments
    assert picked_indices(decode_video(frames[:2], MediaConfig(num_frames=4))) == [0, 0, 1, 1]
    assert decode_video(np.zeros((4, 4, 3), np.uint8), MediaConfig()).reason == "unreadable"
    assert decode_video(np.zeros((0, 4, 4, 3), np.uint8), MediaConfig()) == Absent("zero_frames", "no frames")
    nan = np.full((4, 4, 4, 3), np.nan, np.float32)
    assert decode_video(nan, MediaConfig()) == Absent("unreadable", "non-finite pixel values")
    assert decode_video(np.zeros((4, 4, 4, 3), np.complex64), MediaConfig()).reason == "unreadable"
    floats = decode_video(np.full((4, 4, 4, 3), 300.0, np.float32), MediaConfig(num_frames=2))
    assert floats.dtype == np.uint8 and floats.max() == 255  # finite floats clipped to 0-255


def test_a_path_that_is_there_but_no_file_is_unreadable_not_missing(tmp_path):
    assert decode_audio(tmp_path, MediaConfig()).reason == "unreadable"  # a folder
    assert decode_audio("/dev/null", MediaConfig()).reason == "unreadable"
    assert decode_audio(tmp_path / "nope.wav", MediaConfig()).reason == "missing_file"
