"""Small synthetic media in memory, for tests and benchmarks of the decoders and the
service's media caps: flat-frame H.264 clips (a large frame size compresses to a few KB,
which is what a decompression bomb looks like) and a 440 Hz tone as WAV."""

from __future__ import annotations

import io

import av
import numpy as np


def _mux(out, stream, frames) -> None:
    """Encode ``frames`` into ``stream`` of container ``out``, then flush the encoder."""
    for frame in [*frames, None]:
        for packet in stream.encode(frame):
            out.mux(packet)


def video_bytes(width: int, height: int, frames: int, fmt: str = "mp4", rate: int = 10) -> bytes:
    """An H.264 clip of ``frames`` flat frames of ``width`` x ``height``, in container ``fmt``
    (``h264``: an elementary stream, with no duration or frame count in any header)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        st = out.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.options = {"preset": "ultrafast"}
        _mux(out, st, (_flat_frame(width, height, i) for i in range(frames)))
    return buf.getvalue()


def _flat_frame(width: int, height: int, i: int):
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), (i * 25) % 255, dtype=np.uint8), format="rgb24")
    frame.pts = i
    return frame


def tone(seconds: float, rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    """A sine of amplitude 0.3, float32 ``[seconds * rate]``."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(seconds: float, rate: int = 16000, layout: str = "mono") -> bytes:
    """A 16-bit PCM WAV of a 440 Hz tone, the same signal on every channel of ``layout``."""
    buf = io.BytesIO()
    channels = av.AudioLayout(layout).nb_channels
    with av.open(buf, "w", format="wav") as out:
        st = out.add_stream("pcm_s16le", rate=rate, layout=layout)
        pcm = (tone(seconds, rate) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(pcm, channels)[None, :], format="s16", layout=layout)  # packed [1, n * ch]
        frame.sample_rate = rate
        _mux(out, st, [frame])
    return buf.getvalue()
