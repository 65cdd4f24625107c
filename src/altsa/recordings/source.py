"""Opening a whole recording with PyAV: checks before decoding, strict errors, span frames.

A clip in a corpus that cannot be decoded is an absent modality (``altsa.data.media``);
a recording is the whole input, so here every failure is a one-line ``MediaError``: not
media, no audio stream, an unsupported codec, a truncated file, or longer than the limit
(refused from the header, before anything is decoded).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from altsa.data.media import (
    Absent,
    MediaConfig,
    _audio_header,
    _short,
    codec_tag,
    current_limits,
    decode_video_spans,
    stream_duration,
)
from altsa.errors import MediaError

RATE = 16000  # Whisper, Silero VAD and the speaker encoder all read 16 kHz mono
# a container that says it lasts longer than what decodes is truncated beyond this slack
_TRUNCATED_SLACK_S = 0.5
_TRUNCATED_SLACK_FRACTION = 0.05

Source = str | Path | bytes | bytearray


class RecordingTooLong(MediaError):
    """The recording lasts longer than the limit (``max_minutes``)."""

    code = "recording_too_long"


@dataclass(frozen=True)
class RecordingInfo:
    """What the container says, before decoding."""

    name: str  # the file name (or "<upload>" for bytes)
    duration: float | None  # seconds, when the header says
    audio_codec: str
    sample_rate: int
    channels: int
    video: bool  # the file has a video stream (frames are taken from it per utterance)
    format: str  # container format (e.g. "wav", "mov,mp4,m4a,3gp,3g2,mj2")


def _open(source: Source) -> tuple[Any, str]:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise MediaError("the recording is empty (0 bytes)")
        return _open_handle(io.BytesIO(bytes(source)), "<upload>"), "<upload>"
    path = Path(source)
    if not path.exists():
        raise MediaError("recording not found", path=path)
    if not path.is_file():
        raise MediaError("not a file", path=path)
    if path.stat().st_size == 0:
        raise MediaError("the recording is empty (0 bytes)", path=path)
    return _open_handle(str(path), str(path)), path.name


def _open_handle(handle: Any, where: str) -> Any:
    try:
        return av.open(handle, mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        path = None if where == "<upload>" else where
        raise MediaError(f"not a readable audio or video file ({_short(exc)})", path=path) from None


def _where(source: Source) -> str | None:
    return None if isinstance(source, (bytes, bytearray)) else str(source)


def _describe_streams(container: Any) -> str:
    kinds = [f"{s.type} ({s.codec_context.name if s.codec_context else 'unknown codec'})" for s in container.streams]
    return ", ".join(kinds) or "none"


def probe(source: Source, *, max_minutes: float) -> RecordingInfo:
    """Read the header: the audio stream must exist and have a decoder, and the duration
    (when the header gives one) must be within ``max_minutes``. Decodes nothing."""
    container, name = _open(source)
    with container:
        return _check_header(container, name, source, max_minutes)


def _check_header(container: Any, name: str, source: Source, max_minutes: float) -> RecordingInfo:
    where = _where(source)
    if not container.streams.audio:
        raise MediaError(f"has no audio stream (streams: {_describe_streams(container)})", path=where)
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    if ctx is None:
        raise MediaError(f"unsupported audio codec ({codec_tag(stream)}): FFmpeg has no decoder for it", path=where)
    duration = stream_duration(container, stream)
    promised = _wav_promised_seconds(source, container.format.name, ctx)
    if promised is not None:  # FFmpeg measures a WAV by its file size; its header may say more
        duration = max(duration or 0.0, promised)
    if duration is not None and duration > max_minutes * 60:
        raise RecordingTooLong(
            f"the recording lasts {duration / 60:.3g} min ({duration:.1f} s), longer than --max-minutes {max_minutes:g}", path=where
        )
    too_large = _audio_header(stream, current_limits())  # the service's caps on channels and rate
    if too_large is not None:
        raise MediaError(f"audio too large to decode here: {too_large.detail}", path=where)
    return RecordingInfo(
        name=name,
        duration=duration,
        audio_codec=ctx.name,
        sample_rate=int(ctx.sample_rate or 0),
        channels=int(ctx.channels or 0),
        video=bool(container.streams.video),
        format=container.format.name,
    )


def load_audio(source: Source, *, max_minutes: float) -> tuple[np.ndarray, RecordingInfo]:
    """The whole audio track as float32 ``[samples]`` mono at 16 kHz, and the header info.

    Raises ``MediaError`` for a file that is not media, has no audio stream or no decoder
    for it, is longer than ``max_minutes`` (from the header before decoding, else while
    decoding), or is truncated (a decoding error, a WAV whose header promises more data
    than the file holds, or a container that declares a duration the stream falls short of).
    """
    container, name = _open(source)
    where = _where(source)
    limit = int(max_minutes * 60 * RATE)
    limits = current_limits()  # the service's deadline (none elsewhere)
    with container:
        info = _check_header(container, name, source, max_minutes)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                limits.check_time()
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray()[0])  # packed flt mono: [1, n] -> [n]
                    total += parts[-1].size
                if total > limit:
                    raise RecordingTooLong(f"the recording is longer than --max-minutes {max_minutes:g}", path=where)
            parts += [f.to_ndarray()[0] for f in resampler.resample(None)]
        except av.error.DecoderNotFoundError:
            raise MediaError(f"unsupported audio codec ({codec_tag(stream)})", path=where) from None
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaError(f"damaged or truncated after {total / RATE:.1f} s ({_short(exc)})", path=where) from None
    wave = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
    decoded = wave.size / RATE
    expected = info.duration
    if expected is not None and decoded < expected - max(_TRUNCATED_SLACK_S, _TRUNCATED_SLACK_FRACTION * expected):
        raise MediaError(f"truncated: {decoded:.1f} s of audio decoded, the file declares {expected:.1f} s", path=where)
    if wave.size == 0:
        raise MediaError("the audio stream holds no samples", path=where)
    if not np.all(np.isfinite(wave)):
        raise MediaError("the audio holds non-finite samples", path=where)
    return wave, info


def _wav_promised_seconds(source: Source, container_format: str, ctx: Any) -> float | None:
    """Seconds a PCM WAV's header promises (its ``data`` chunk size); FFmpeg measures a WAV
    by the file's size, so a cut-off WAV would otherwise pass for a shorter one."""
    rate = int(ctx.sample_rate or 0)
    if container_format != "wav" or not ctx.name.startswith("pcm_") or not rate:
        return None
    if isinstance(source, (bytes, bytearray)):
        head = bytes(source[:4096])
    else:
        with open(source, "rb") as fh:
            head = fh.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, block_align = 12, 0
    while offset + 8 <= len(head):
        chunk, size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk == b"fmt " and offset + 24 <= len(head):
            block_align = struct.unpack_from("<H", head, offset + 20)[0]
        if chunk == b"data":
            if not block_align or size in (0, 0xFFFFFFFF):  # streamed WAVs leave the size unset
                return None
            return size / block_align / rate
        offset += 8 + size + (size & 1)
    return None


def span_frames(
    source: Source, spans: list[tuple[float, float]], cfg: MediaConfig
) -> list[np.ndarray | Absent]:
    """``cfg.num_frames`` RGB frames sampled uniformly over each ``(start, end)`` span (seconds)
    of the recording's video stream, in one pass over the file."""
    data: Any = bytes(source) if isinstance(source, (bytes, bytearray)) else source
    return decode_video_spans(data, spans, cfg)
