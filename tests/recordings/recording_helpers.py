"""Helpers of the recordings tests: the conversation's lines, skips with a reason, and
media files written with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

RATE = 16000

LINES = [
    (0, "Did you see the game last night?"),
    (1, "No, I was working late again."),
    (0, "That is such a shame, it was amazing."),
    (1, "Who won the match in the end?"),
    (0, "We did, with a goal in the very last minute."),
    (1, "Oh wow, I really missed something special."),
]


def need_speech() -> None:
    from altsa.recordings import synthetic

    if not synthetic.available():
        pytest.skip("no English speech synthesiser: pip install espeakng-loader (dev extra) or apt-get install espeak-ng")


def need_recordings_extra() -> None:
    pytest.importorskip("faster_whisper", reason="the recordings extra is not installed: pip install 'altsa[recordings]'")


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.fft.rfftfreq(wave.size, 1 / RATE)[np.argmax(spectrum)])


def video_file(path: Path, seconds: float, *, audio: np.ndarray | None, fps: int = 10, fmt: str | None = None) -> Path:
    """A video whose frame k is a flat grey of level 2*k (the decoded level tells the time),
    with an AAC track of ``audio`` (16 kHz) when given."""
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width = vs.height = 32
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=RATE, layout="stereo") if audio is not None else None
        if aus is not None:
            src = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
            src.sample_rate, src.pts = RATE, 0
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE, frame_size=1024)
            for frame in [*resampler.resample(src), *resampler.resample(None)]:
                out.mux(aus.encode(frame))
            out.mux(aus.encode(None))
        for k in range(int(seconds * fps)):
            img = np.full((32, 32, 3), min(255, 2 * k), np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode(None))
    return path
