"""Media decoding with PyAV: 16 kHz mono waveforms and uniformly sampled RGB frames.

Decoding never crashes on bad input: a missing, corrupt, silent or empty clip yields an
``Absent`` outcome with a reason, which the feature cache stores as a mask and reports.
Long clips (MELD has clips of 235 s and 305 s) are cut at ``max_seconds`` while decoding,
so a long clip costs no more memory than a short one; with ``long_clips="skip"`` they are
``Absent("too_long")`` instead.

Untrusted clips (the HTTP service) are decoded under ``MediaLimits``: frame size, frame
count, audio channels and sample rate are read from the stream header and a clip above
them is ``Absent("too_large")`` before anything is decoded (a 750 KB H.264 file can hold a
16000x16000 frame: 384 MB per decoded picture); the same caps hold while decoding (a
mid-stream size change), and a ``deadline`` stops the work of a request that gave up
(``DecodeTimeout``). The service sets them for a whole job with ``media_limits(...)``, so
decoding inside the recognizer obeys them too.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.logging
import numpy as np

from altsa.data.paths import path_kind, shown
from altsa.data.schema import span_problem
from altsa.errors import ConfigError, MediaError

# PyAV ignores FFmpeg's log by default; keep it so (a corrupt MELD clip would otherwise
# print pages of "moov atom not found"). ALTSA_FFMPEG_LOG=VERBOSE turns it on to debug.
av.logging.set_level(getattr(av.logging, os.environ.get("ALTSA_FFMPEG_LOG", ""), None))


@dataclass(frozen=True)
class Absent:
    """A modality that is not there for an utterance, and why (counted and reported)."""

    reason: str  # missing_file | unreadable | no_audio_stream | no_video_stream | zero_frames | silent | too_long | too_large | empty | bad_span | span_outside_file
    detail: str = ""


class DecodeTimeout(MediaError):
    """Decoding passed the deadline of ``MediaLimits`` (its request timed out): the work stops."""

    code = "timeout"


@dataclass(frozen=True)
class MediaLimits:
    """Caps for untrusted clips, checked against the stream header before decoding and again
    on every decoded frame. None: no cap (corpus files)."""

    max_pixels: int | None = None  # width x height of a video frame
    max_frames: int | None = None  # frames in the video stream
    max_channels: int | None = None  # audio channels
    max_sample_rate: int | None = None  # audio samples per second (per channel) in the file
    deadline: float | None = None  # time.monotonic() after which decoding raises DecodeTimeout
    frame_side: int | None = None  # picked frames scaled (aspect kept) to this longest side as read

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DecodeTimeout("decoding stopped: the request's time ran out")


_NO_LIMITS = MediaLimits()
_local = threading.local()


@contextlib.contextmanager
def media_limits(limits: MediaLimits) -> Iterator[None]:
    """Decode under ``limits`` in this thread for the duration of the block (used by the
    service around a whole inference job, so the recognizer's own decoding obeys them)."""
    before = getattr(_local, "limits", None)
    _local.limits = limits
    try:
        yield
    finally:
        _local.limits = before


def current_limits() -> MediaLimits:
    """The limits ``media_limits`` set for this thread (none: no caps)."""
    return getattr(_local, "limits", None) or _NO_LIMITS


def _limits(given: MediaLimits | None) -> MediaLimits:
    return given if given is not None else getattr(_local, "limits", None) or _NO_LIMITS


@dataclass
class MediaConfig:
    """Limits and preprocessing for decoding; part of every audio/video encoder fingerprint."""

    sample_rate: int = 16000  # Data2VecAudio and Whisper expect 16 kHz
    max_seconds: float = 30.0  # MELD has clips of 235 s and 305 s; cut or skip beyond this
    long_clips: str = "cut"  # "cut" to max_seconds, or "skip" (Absent("too_long"))
    num_frames: int = 8  # TimeSformer-base reads 8 frames
    silence_rms: float = 1e-4  # below this RMS the audio counts as silent (absent)


Source = str | Path | bytes | bytearray | np.ndarray
Span = tuple[float | None, float | None]  # (start, end) seconds into the file; None: its start / its end
_SEEK_GAP_S = 4.0  # video: seek instead of decoding on when the next target is this far ahead
# audio spans: decoding starts this long before the span (a seek lands on a packet boundary;
# MP3's bit reservoir and the resampler's filter need a few ms of history), so a span decodes
# to the very samples the whole file's decode holds there
_PREROLL_S = 0.5


def _check(cfg: MediaConfig) -> None:
    if cfg.long_clips not in ("cut", "skip"):
        raise ConfigError(f"media.long_clips must be 'cut' or 'skip', not {cfg.long_clips!r}")
    if cfg.sample_rate <= 0 or cfg.max_seconds <= 0 or cfg.num_frames <= 0:
        raise ConfigError("media.sample_rate, max_seconds and num_frames must be positive")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _open(source: Source, limits: MediaLimits = _NO_LIMITS) -> Any:
    """Open a container, or return the ``Absent`` that says why it cannot be opened. Under
    limits, probing reads headers only: FFmpeg would otherwise decode a first frame, whatever
    its size, to learn its pixel format."""
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            return Absent("empty", "0 bytes")
        handle: Any = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        kind, why = path_kind(path)
        if kind == "missing":
            return Absent("missing_file", str(path))
        if kind == "bad_name":  # no file can have this name (a NUL byte, too long)
            return Absent("missing_file", f"{shown(str(path).replace(chr(0), '<NUL>'))} ({why})")
        if kind in ("dir", "other"):  # a folder, a device (/dev/null), a pipe, a socket: there, but no media file
            return Absent("unreadable", f"{path} is {why}")
        if kind != "file":
            return Absent("unreadable", f"{path}: {why}")
        try:
            if path.stat().st_size == 0:
                return Absent("empty", f"0-byte file {path.name}")
        except OSError as exc:
            return Absent("unreadable", _short(exc))
        handle = str(path)
    options = {"skip_frame": "all"} if limits is not _NO_LIMITS else None
    try:
        return av.open(handle, mode="r", options=options)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        return Absent("unreadable", _short(exc))


def stream_duration(container: Any, stream: Any) -> float | None:
    """Seconds of the stream (or the container) when the header says; else None."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _limit(cfg: MediaConfig, duration: float | None) -> Absent | None:
    if cfg.long_clips == "skip" and duration is not None and duration > cfg.max_seconds:
        return Absent("too_long", f"{duration:.1f} s > max_seconds {cfg.max_seconds:g}")
    return None


# --------------------------------------------------------------------------- audio


def _resample_array(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample a mono float32 array with FFmpeg's resampler (the same path as files)."""
    frame = av.AudioFrame.from_ndarray(wave[None, :], format="flt", layout="mono")  # [1, samples]
    frame.sample_rate = rate
    frame.pts = 0
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    parts = [f.to_ndarray()[0] for f in resampler.resample(frame)]
    parts += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _array_to_mono(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave)
    if wave.ndim == 2:  # [samples, channels] or [channels, samples]: average the short axis
        wave = wave.mean(axis=int(np.argmin(wave.shape)))
    if wave.ndim != 1:
        raise ValueError(f"expected a 1-D or 2-D waveform, got shape {wave.shape}")
    if np.issubdtype(wave.dtype, np.integer):  # PCM ints -> [-1, 1]
        wave = wave / float(np.iinfo(wave.dtype).max + 1)
    return np.ascontiguousarray(wave, dtype=np.float32)


def _finish_audio(wave: np.ndarray, cfg: MediaConfig) -> np.ndarray | Absent:
    if wave.size == 0:
        return Absent("empty", "no audio samples")
    if not np.all(np.isfinite(wave)):
        return Absent("unreadable", "non-finite samples")
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    if rms < cfg.silence_rms:
        return Absent("silent", f"rms {rms:.2e} < silence_rms {cfg.silence_rms:g}")
    return wave


def _channels_over(channels: int, limits: MediaLimits) -> Absent | None:
    """More audio channels than allowed: checked on the header and again on every decoded
    frame (a stream may change its layout after the header)."""
    if limits.max_channels is not None and channels > limits.max_channels:
        return Absent("too_large", f"{channels} audio channels > max {limits.max_channels}")
    return None


def codec_tag(stream: Any) -> str:
    """How a stream names its codec, for messages about a codec FFmpeg cannot decode."""
    tag = getattr(stream, "codec_tag", "") or ""
    return f"codec tag {tag!r}" if tag else "unknown codec"


def _no_decoder(stream: Any) -> Absent:
    return Absent("unreadable", f"unsupported codec ({codec_tag(stream)}): FFmpeg has no decoder for it")


def _audio_header(stream: Any, limits: MediaLimits) -> Absent | None:
    ctx = stream.codec_context
    if ctx is None:
        return _no_decoder(stream)
    over = _channels_over(int(getattr(ctx.layout, "nb_channels", 0) or getattr(ctx, "channels", 0) or 0), limits)
    if over is not None:
        return over
    rate = int(ctx.sample_rate or 0)
    if limits.max_sample_rate is not None and rate > limits.max_sample_rate:
        return Absent("too_large", f"sample rate {rate} Hz > max {limits.max_sample_rate}")
    return None


def _span_absent(span: Span | None) -> Absent | None:
    """``Absent("bad_span")`` for a span no file can have (negative, end not after start)."""
    if span is None:
        return None
    problem = span_problem(*span)
    return Absent("bad_span", problem) if problem else None


def _span_too_long(span: Span, cfg: MediaConfig) -> Absent | None:
    start, end = span[0] or 0.0, span[1]
    if cfg.long_clips == "skip" and end is not None and end - start > cfg.max_seconds:
        return Absent("too_long", f"span {end - start:.1f} s > max_seconds {cfg.max_seconds:g}")
    return None


def decode_audio(
    source: Source,
    cfg: MediaConfig,
    *,
    sample_rate: int | None = None,
    limits: MediaLimits | None = None,
    span: Span | None = None,
) -> np.ndarray | Absent:
    """Decode to float32 ``[samples]`` mono at ``cfg.sample_rate``, or ``Absent``.

    ``source``: a path (any container FFmpeg reads: mp4, wav, flac, webm, ...), the file's
    bytes, or a waveform array (at ``sample_rate``, default ``cfg.sample_rate``).
    ``limits``: caps for untrusted clips (default: this thread's ``media_limits``, else none).
    ``span``: ``(start, end)`` seconds of the file to read (None: its start / its end): the
    decoder seeks near ``start`` and stops after ``end``, and the result equals that slice of
    the whole file's decode. ``max_seconds`` and ``long_clips`` apply to the span's length;
    a span past the end of the audio is ``Absent("span_outside_file")`` (one that only runs
    past it gives the audio up to the end), a malformed one ``Absent("bad_span")``.
    """
    _check(cfg)
    limits = _limits(limits)
    max_samples = int(round(cfg.max_seconds * cfg.sample_rate))
    bad = _span_absent(span) or (_span_too_long(span, cfg) if span is not None else None)
    if bad is not None:
        return bad
    if isinstance(source, np.ndarray):
        try:
            wave = _array_to_mono(source)
        except ValueError as exc:
            return Absent("unreadable", _short(exc))
        rate = sample_rate or cfg.sample_rate
        if span is not None:
            lo = int(round((span[0] or 0.0) * rate))
            hi = wave.size if span[1] is None else int(round(span[1] * rate))
            if lo >= wave.size:
                return Absent("span_outside_file", f"the audio ends at {wave.size / rate:.2f} s, before the span")
            wave = wave[lo:hi]
        if wave.size and rate != cfg.sample_rate:
            wave = _resample_array(wave, rate, cfg.sample_rate)
        if wave.size > max_samples:
            if cfg.long_clips == "skip":
                return _limit(cfg, wave.size / cfg.sample_rate)  # type: ignore[return-value]
            wave = wave[:max_samples]
        return _finish_audio(wave, cfg)

    container = _open(source, limits)
    if isinstance(container, Absent):
        return container
    with container:
        if not container.streams.audio:
            return Absent("no_audio_stream")
        stream = container.streams.audio[0]
        if span is not None:
            too_large = _audio_header(stream, limits)
            return too_large if too_large is not None else _audio_span(container, stream, span, cfg, limits)
        too_long = _limit(cfg, stream_duration(container, stream)) or _audio_header(stream, limits)
        if too_long is not None:
            return too_long
        resampler = av.AudioResampler(format="flt", layout="mono", rate=cfg.sample_rate)
        parts: list[np.ndarray] = []
        total = 0
        error = ""
        try:
            for frame in container.decode(stream):
                limits.check_time()
                if (over := _channels_over(frame.layout.nb_channels, limits)) is not None:
                    return over
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray()[0])  # packed flt mono: [1, n] -> [n]
                    total += parts[-1].size
                if total >= max_samples + cfg.sample_rate:
                    break
            else:
                parts += [f.to_ndarray()[0] for f in resampler.resample(None)]
        except (av.error.FFmpegError, ValueError) as exc:
            error = _short(exc)  # a truncated clip: keep what decoded before the damage
        if not parts:
            return Absent("unreadable", error) if error else Absent("empty", "no audio samples")
        wave = np.concatenate(parts).astype(np.float32, copy=False)
    if wave.size > max_samples:
        if cfg.long_clips == "skip":  # the header gave no duration
            return Absent("too_long", f"> max_seconds {cfg.max_seconds:g}")
        wave = wave[:max_samples]
    return _finish_audio(wave, cfg)


def _audio_span(container: Any, stream: Any, span: Span, cfg: MediaConfig, limits: MediaLimits) -> np.ndarray | Absent:
    """The samples of ``span`` (seconds from the start of the file), equal to the same slice of
    the whole file's decode: decoding starts ``_PREROLL_S`` before the span (by seeking), at an
    input sample whose time is also a whole output sample (44.1 kHz -> 16 kHz: every 441st),
    so the resampler produces the very samples it does from the file's start."""
    rate = cfg.sample_rate
    start = span[0] or 0.0
    stop = start + cfg.max_seconds if span[1] is None else min(span[1], start + cfg.max_seconds)  # cut
    lo, hi = int(round(start * rate)), int(round(stop * rate))  # output samples wanted (file positions)
    origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    seek_to = start - _PREROLL_S
    attempts = (True, False) if seek_to > 0 else (False,)
    for seek in attempts:
        try:
            if seek:
                container.seek(int((origin + seek_to) / stream.time_base), stream=stream, backward=True)
            elif len(attempts) > 1:  # the seek did not serve: back to the file's start
                container.seek(0)
        except (av.error.FFmpegError, OSError, ValueError, OverflowError) as exc:
            if seek:
                continue
            return Absent("unreadable", f"cannot seek back to the start: {_short(exc)}")
        out = _resample_from(container, stream, origin, seek, rate, lo, hi, limits)
        if out is not None:
            return out if isinstance(out, Absent) else _finish_audio(out, cfg)
    return Absent("unreadable", "cannot place the span in the stream")


def _resample_from(
    container: Any, stream: Any, origin: float, placed: bool, rate: int, lo: int, hi: int, limits: MediaLimits
) -> np.ndarray | Absent | None:
    """Decode from where the container is (``placed``: after a seek, the first frame's time
    says where; else the file's start) and resample; output samples ``[lo, hi)`` of the file.
    None: this position cannot serve (the seek landed after the span's start, or frames
    carry no times)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts: list[np.ndarray] = []
    total = 0
    first_out: int | None = None  # file position of the first output sample
    skip = 0  # input samples still to drop before feeding the resampler
    error = ""
    try:
        for frame in container.decode(stream):
            limits.check_time()
            if (over := _channels_over(frame.layout.nb_channels, limits)) is not None:
                return over
            if first_out is None:
                if placed and frame.pts is None:
                    return None
                g = math.gcd(frame.sample_rate, rate)
                step_in, step_out = frame.sample_rate // g, rate // g
                pos = max(0, round((float(frame.pts * frame.time_base) - origin) * frame.sample_rate)) if placed else 0
                first = -(-pos // step_in) * step_in  # the next input sample on the output grid
                skip, first_out = first - pos, first // step_in * step_out
                if first_out > lo:
                    return None
            if skip >= frame.samples:
                skip -= frame.samples
                continue
            if skip:
                frame, skip = _drop_head(frame, skip), 0
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray()[0])  # packed flt mono: [1, n] -> [n]
                total += parts[-1].size
            if first_out + total >= hi + rate // 20:  # past the span, with room for the resampler's delay
                break
        else:
            parts += [f.to_ndarray()[0] for f in resampler.resample(None)]
    except (av.error.FFmpegError, ValueError) as exc:
        error = _short(exc)  # a truncated file: keep what decoded before the damage
    if first_out is None:
        if error:
            return Absent("unreadable", error)
        if placed:
            return Absent("span_outside_file", f"the audio ends before the span's start {lo / rate:g} s")
        return Absent("empty", "no audio samples")
    wave = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
    if first_out + wave.size <= lo:
        end = (first_out + wave.size) / rate
        return Absent("span_outside_file", f"the audio ends at {end:.2f} s, before the span's start {lo / rate:g} s")
    return wave[lo - first_out : hi - first_out]


def _drop_head(frame: Any, cut: int) -> Any:
    """``frame`` without its first ``cut`` samples (same format, layout and rate)."""
    arr = frame.to_ndarray()  # planar: [channels, samples]; packed: [1, samples * channels]
    per = 1 if frame.format.is_planar else frame.layout.nb_channels
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr[:, cut * per :]), format=frame.format.name,
                                     layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    if frame.pts is not None and frame.time_base is not None:
        out.time_base = frame.time_base
        out.pts = frame.pts + int(round(cut / frame.sample_rate / frame.time_base))
    return out


def active_span(wave: np.ndarray, sample_rate: int, threshold: float, frame_s: float = 0.01) -> tuple[int, int]:
    """``(start, end)`` sample indices without leading/trailing silence (10 ms frames whose
    RMS is below ``threshold``). EmoDB's copy pads 105 clips with exact zeros to 2.0 s;
    pooling over the padding would blur the utterance vector."""
    hop = max(1, int(sample_rate * frame_s))
    n = wave.size // hop
    if n == 0:
        return 0, wave.size
    rms = np.sqrt(np.mean(np.square(wave[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))  # [frames]
    loud = np.flatnonzero(rms >= threshold)
    if loud.size == 0:
        return 0, wave.size
    end = wave.size if loud[-1] == n - 1 else (loud[-1] + 1) * hop
    return int(loud[0] * hop), int(end)


# --------------------------------------------------------------------------- video


def _targets(duration: float, count: int) -> list[float]:
    """Centres of ``count`` equal segments of the clip: uniform over the whole duration."""
    return [(k + 0.5) * duration / count for k in range(count)]


class _TooLarge(Exception):
    """A decoded frame broke a cap of ``MediaLimits`` (a size change mid-stream, too many frames)."""


class _Frames:
    """``container.decode(stream)`` that counts frames and checks each against the limits."""

    def __init__(self, container: Any, stream: Any, limits: MediaLimits):
        self.it = container.decode(stream)
        self.limits = limits
        self.count = 0

    def __iter__(self) -> _Frames:
        return self

    def __next__(self) -> Any:
        self.limits.check_time()
        frame = next(self.it)
        self.count += 1
        lim = self.limits
        if lim.max_pixels is not None and frame.width * frame.height > lim.max_pixels:
            raise _TooLarge(f"a {frame.width}x{frame.height} frame > max_pixels {lim.max_pixels}")
        if lim.max_frames is not None and self.count > lim.max_frames:
            raise _TooLarge(f"more than max_frames {lim.max_frames} frames")
        return frame


def _frame_times(container: Any, stream: Any, limits: MediaLimits) -> list[float]:
    """Decode once to learn the frame times (only for streams whose header has no duration)."""
    times = [f.time for f in _Frames(container, stream, limits) if f.time is not None]
    container.seek(0)
    return times


def _video_header(stream: Any, duration: float | None, limits: MediaLimits) -> Absent | None:
    """The caps checked from the header alone, before any frame is decoded."""
    ctx = stream.codec_context
    if ctx is None:
        return _no_decoder(stream)
    w, h = int(ctx.width or 0), int(ctx.height or 0)
    if limits.max_pixels is not None:
        if w * h > limits.max_pixels:
            return Absent("too_large", f"{w}x{h} frames ({w * h} pixels) > max_pixels {limits.max_pixels}")
        ctx.options = {**ctx.options, "max_pixels": str(limits.max_pixels)}  # the decoder refuses larger frames too
    if limits.max_frames is not None:
        declared = int(stream.frames or 0)
        if not declared and duration and stream.average_rate:
            declared = int(duration * float(stream.average_rate))
        if declared > limits.max_frames:
            return Absent("too_large", f"{declared} frames > max_frames {limits.max_frames}")
    return None


def decode_video(
    source: str | Path | bytes | np.ndarray,
    cfg: MediaConfig,
    *,
    limits: MediaLimits | None = None,
    span: Span | None = None,
) -> np.ndarray | Absent:
    """Decode ``cfg.num_frames`` RGB frames sampled uniformly over the clip (cut at
    ``max_seconds``): uint8 ``[num_frames, H, W, 3]``, or ``Absent``. An array source
    holds frames already (``[frames, H, W, 3]``); they are sampled the same way.

    Frames are picked on the fly at the centres of equal time segments; only the picked
    frames are converted and kept, and far targets are reached by seeking, so a 5-minute
    clip costs about as much as a short one. ``limits``: caps for untrusted clips (default:
    this thread's ``media_limits``, else none). ``span``: ``(start, end)`` seconds of the file
    to sample over (``decode_video_spans``; frames carry no times in an array source).
    """
    _check(cfg)
    limits = _limits(limits)
    if span is not None:
        if isinstance(source, np.ndarray):
            return Absent("bad_span", "a span needs a video file, not frames")
        return decode_video_spans(source, [span], cfg, limits=limits)[0]
    if isinstance(source, np.ndarray):
        return _frames_array(source, cfg, limits)
    container = _open(source, limits)
    if isinstance(container, Absent):
        return container
    with container:
        if not container.streams.video:
            return Absent("no_video_stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = stream_duration(container, stream)
        too_long = _limit(cfg, duration) or _video_header(stream, duration, limits)
        if too_long is not None:
            return too_long
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        try:
            if duration is None or duration <= 0:
                times = _frame_times(container, stream, limits)
                if not times:
                    return Absent("zero_frames", "no decodable frame")
                if cfg.long_clips == "skip" and times[-1] - times[0] > cfg.max_seconds:
                    return Absent("too_long", f"> max_seconds {cfg.max_seconds:g}")
                start, duration = times[0], max(times[-1] - times[0], 1e-3)
            span = min(duration, cfg.max_seconds)
            frames = _pick_frames(container, stream, [start + t for t in _targets(span, cfg.num_frames)], limits)
        except _TooLarge as exc:
            return Absent("too_large", str(exc))
        except (av.error.FFmpegError, ValueError) as exc:
            return Absent("unreadable", _short(exc))
    if not frames:
        return Absent("zero_frames", "no decodable frame")
    while len(frames) < cfg.num_frames:  # the stream ended early: repeat the last frame
        frames.append(frames[-1])
    h, w = frames[0].shape[:2]
    frames = [f if f.shape[:2] == (h, w) else _resize_rgb(f, h, w) for f in frames]
    return np.stack(frames)  # [num_frames, H, W, 3]


def _frames_array(frames: np.ndarray, cfg: MediaConfig, limits: MediaLimits) -> np.ndarray | Absent:
    """Frames given as an array ``[frames, H, W, 3]``: ``cfg.num_frames`` of them picked at
    the centres of equal segments, as from a file."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        return Absent("unreadable", f"video frames must be [frames, H, W, 3], not {list(frames.shape)}")
    if frames.shape[0] == 0:
        return Absent("zero_frames", "no frames")
    h, w = frames.shape[1:3]
    if limits.max_pixels is not None and h * w > limits.max_pixels:
        return Absent("too_large", f"{w}x{h} frames ({w * h} pixels) > max_pixels {limits.max_pixels}")
    if not (np.issubdtype(frames.dtype, np.integer) or np.issubdtype(frames.dtype, np.floating)):
        return Absent("unreadable", f"video frames must be numbers (uint8 0-255), not {frames.dtype}")
    n = frames.shape[0]
    index = [min(n - 1, int(t)) for t in _targets(float(n), cfg.num_frames)]
    picked = frames[index]
    if np.issubdtype(picked.dtype, np.floating) and not np.all(np.isfinite(picked)):
        return Absent("unreadable", "non-finite pixel values")
    return np.ascontiguousarray(picked.clip(0, 255).astype(np.uint8, copy=False))  # [num_frames, H, W, 3]


def decode_video_spans(
    source: str | Path | bytes, spans: list[Span], cfg: MediaConfig, *, limits: MediaLimits | None = None
) -> list[np.ndarray | Absent]:
    """``cfg.num_frames`` RGB frames sampled uniformly over each ``(start, end)`` span (seconds
    from the start of the file; None: its start / its end) of one long video, uint8
    ``[num_frames, H, W, 3]`` each, or ``Absent``. One pass over the file for all spans (far
    targets reached by seeking), so the utterances of a recording cost what their frames
    cost, not one decode each. A span longer than ``max_seconds`` is sampled over its first
    ``max_seconds`` (``long_clips: skip``: ``Absent("too_long")``); one past the end of the
    video is ``Absent("span_outside_file")``, a malformed one ``Absent("bad_span")``.
    ``limits``: as for ``decode_video``."""
    _check(cfg)
    limits = _limits(limits)
    if not spans:
        return []
    out: list[np.ndarray | Absent | None] = [_span_absent(span) for span in spans]
    if all(o is not None for o in out):
        return out  # type: ignore[return-value]
    container = _open(source, limits)
    if isinstance(container, Absent):
        return [o or container for o in out]
    with container:
        if not container.streams.video:
            return [o or Absent("no_video_stream") for o in out]
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = stream_duration(container, stream)
        too_large = _video_header(stream, duration, limits)
        if too_large is not None:
            return [o or too_large for o in out]
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        period = 1.0 / float(stream.average_rate) if stream.average_rate else 0.04  # seconds a frame is shown
        try:
            if duration is None and any(o is None and s[1] is None for o, s in zip(out, spans)):
                times = _frame_times(container, stream, limits)  # an open end needs the video's length
                duration = times[-1] - origin if times else 0.0
            starts: dict[int, float] = {}
            targets = []
            for i, (start, end) in enumerate(spans):
                if out[i] is not None:
                    continue
                start = start or 0.0
                if duration is not None and start >= duration:
                    out[i] = Absent("span_outside_file", f"the video ends at {duration:.2f} s, before the span's start {start:g} s")
                    continue
                stop = end if end is not None else duration
                if duration is not None:
                    stop = min(stop, duration)  # type: ignore[type-var]
                length = max(stop - start, 1e-3)  # type: ignore[operator]
                if length > cfg.max_seconds:
                    if cfg.long_clips == "skip":
                        out[i] = Absent("too_long", f"span {length:.1f} s > max_seconds {cfg.max_seconds:g}")
                        continue
                    length = cfg.max_seconds
                starts[i] = start
                targets += [(origin + start + t, i) for t in _targets(length, cfg.num_frames)]
            targets.sort()
            times_picked: list[float] = []
            frames = _pick_frames(container, stream, [t for t, _ in targets], limits, times_picked)
        except _TooLarge as exc:
            return [o or Absent("too_large", str(exc)) for o in out]
        except (av.error.FFmpegError, ValueError) as exc:
            return [o or Absent("unreadable", _short(exc)) for o in out]
    per_span: dict[int, list[np.ndarray]] = {i: [] for i in starts}
    last_time: dict[int, float] = {}
    for (_, i), frame, t in zip(targets, frames, times_picked):
        per_span[i].append(frame)
        last_time[i] = t
    for i, picked in per_span.items():
        if not picked or last_time[i] < origin + starts[i] - period:  # no frame shown in the span
            out[i] = Absent("span_outside_file" if picked else "zero_frames", "the video ends before this span")
            continue
        while len(picked) < cfg.num_frames:  # the stream ended inside the span
            picked.append(picked[-1])
        h, w = picked[0].shape[:2]
        out[i] = np.stack([f if f.shape[:2] == (h, w) else _resize_rgb(f, h, w) for f in picked])
    return out  # type: ignore[return-value]


def _pick_frames(
    container: Any, stream: Any, targets: list[float], limits: MediaLimits = _NO_LIMITS, times: list[float] | None = None
) -> list[np.ndarray]:
    """For each target time, the first frame at or after it (the last one at the end);
    ``times`` (when given) receives each picked frame's time."""
    half = 0.5 / float(stream.average_rate) if stream.average_rate else 0.02
    decoded = _Frames(container, stream, limits)
    current = None
    picked: list[np.ndarray] = []
    for target in targets:
        if current is not None and current.time is not None and target - current.time > _SEEK_GAP_S:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            decoded.it, current = container.decode(stream), None
        try:
            while current is None or current.time is None or current.time < target - half:
                current = next(decoded)
        except StopIteration:
            pass
        except av.error.FFmpegError:  # damaged tail: use the frames decoded so far
            if current is None:
                raise
        if current is None:
            break
        picked.append(_rgb(current, limits.frame_side))  # [H, W, 3]
        if times is not None:
            times.append(float(current.time) if current.time is not None else target)
    return picked


def _rgb(frame: Any, side: int | None) -> np.ndarray:
    """The frame as RGB, scaled while converting when its longer side is over ``side``."""
    if side is None or max(frame.width, frame.height) <= side:
        return frame.to_ndarray(format="rgb24")
    scale = side / max(frame.width, frame.height)
    w, h = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    return frame.to_ndarray(format="rgb24", width=w, height=h)


def _resize_rgb(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """Rare mid-stream size change: scale to the first frame's size with FFmpeg."""
    vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
    return vf.to_ndarray(format="rgb24", width=w, height=h)


# --------------------------------------------------------------------------- reports


def summarize(outcomes: Iterable[Any]) -> dict[str, int]:
    """Count decode outcomes for reports: ``{"ok": n, "<reason>": n, ...}``."""
    counts = Counter(o.reason if isinstance(o, Absent) else "ok" for o in outcomes)
    return dict(sorted(counts.items(), key=lambda kv: (kv[0] != "ok", -kv[1], kv[0])))
