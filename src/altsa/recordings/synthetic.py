"""English speech made on the spot, for tests and benchmarks: eSpeak NG voices as speakers.

No audio is committed: a test builds its recording from lines of text, with known words,
speakers and boundaries. The synthesiser is eSpeak NG, from the ``espeakng-loader`` wheel
(the library and its voice data, in the ``dev`` extra) through its C API, else from the
``espeak-ng`` program (Debian's ``espeak-ng`` package).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from altsa.data.media import MediaConfig, decode_audio

RATE = 16000
# Voices far apart for Resemblyzer's encoder (measured: mean cosine distance 0.38-0.53
# between them, 0.2-0.3 within one), a male, a female and a higher female variant.
VOICES = ("en-us+m7", "en-us+f3", "en-us+f5")

_LIB: dict[str, object] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Line:
    """One utterance of an assembled recording, with where it lies (seconds)."""

    speaker: int
    text: str
    start: float
    end: float


def available() -> str:
    """How speech can be made here ("library", "program"), or "" when it cannot."""
    try:
        import espeakng_loader  # noqa: F401

        return "library"
    except ImportError:
        return "program" if shutil.which("espeak-ng") else ""


def _library():
    import espeakng_loader

    if "lib" not in _LIB:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        # AUDIO_OUTPUT_SYNCHRONOUS = 2: samples come to the callback, no sound device
        rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise")
        chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def collect(wav, n, _events):  # int16 samples of the utterance so far
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        callback = callback_type(collect)
        lib.espeak_SetSynthCallback(callback)
        _LIB.update(lib=lib, rate=rate, chunks=chunks, callback=callback)  # keep the callback alive
    return _LIB


def speak(text: str, voice: str = VOICES[0], *, speed: int = 160) -> np.ndarray:
    """``text`` spoken by ``voice``: float32 16 kHz mono samples, silence trimmed by eSpeak."""
    how = available()
    if how == "library":
        with _LOCK:
            state = _library()
            lib, chunks = state["lib"], state["chunks"]
            chunks.clear()  # type: ignore[attr-defined]
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:  # type: ignore[attr-defined]
                raise ValueError(f"eSpeak NG has no voice {voice!r}")
            lib.espeak_SetParameter(1, speed, 0)  # type: ignore[attr-defined]  # espeakRATE: words per minute
            data = text.encode()
            lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 1, None, None)  # type: ignore[attr-defined]  # 1: UTF-8
            lib.espeak_Synchronize()  # type: ignore[attr-defined]
            wave = np.concatenate(chunks).astype(np.float32) / 32768.0  # type: ignore[arg-type]
            rate = int(state["rate"])  # type: ignore[arg-type]
        out = decode_audio(wave, MediaConfig(max_seconds=600), sample_rate=rate)
        return np.asarray(out, np.float32)
    if how == "program":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "say.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
            return np.asarray(decode_audio(path, MediaConfig(max_seconds=600)), np.float32)
    raise RuntimeError("no speech synthesiser: pip install espeakng-loader (the dev extra) or apt-get install espeak-ng")


def assemble(
    lines: list[tuple[int, str]], *, pause_s: float = 0.9, lead_s: float = 0.5, voices: tuple[str, ...] = VOICES,
    noise: float = 0.0, seed: int = 0,
) -> tuple[np.ndarray, list[Line]]:
    """A conversation recording from ``(speaker, text)`` lines: each spoken by its
    speaker's voice, ``pause_s`` of silence between them (and ``lead_s`` around), with
    optional white noise. Returns the 16 kHz waveform and each line's true span (the
    span of its speech, eSpeak's own leading/trailing silence excluded)."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(lead_s * RATE), np.float32)]
    at = parts[0].size
    truth = []
    for speaker, text in lines:
        wave = speak(text, voices[speaker % len(voices)])
        lo, hi = _voiced(wave)
        truth.append(Line(speaker, text, (at + lo) / RATE, (at + hi) / RATE))
        parts.append(wave)
        at += wave.size
        gap = np.zeros(int(pause_s * RATE), np.float32)
        parts.append(gap)
        at += gap.size
    parts.append(np.zeros(int(max(lead_s - pause_s, 0) * RATE), np.float32))
    audio = np.concatenate(parts)
    if noise:
        audio = audio + rng.normal(0, noise, audio.size).astype(np.float32)
    return audio, truth


def _voiced(wave: np.ndarray, threshold: float = 0.01) -> tuple[int, int]:
    """First and last sample above ``threshold`` (10 ms frames)."""
    hop = RATE // 100
    n = wave.size // hop
    loud = np.flatnonzero(np.abs(wave[: n * hop]).reshape(n, hop).max(1) > threshold)
    if loud.size == 0:
        return 0, wave.size
    return int(loud[0] * hop), int(min(wave.size, (loud[-1] + 1) * hop))


def write(path: str | Path, wave: np.ndarray, *, rate: int = RATE, fmt: str = "wav", codec: str = "pcm_s16le",
          channels: int = 1) -> Path:
    """Write ``wave`` (16 kHz mono float32) with PyAV as ``fmt``/``codec`` at ``rate``,
    ``channels`` channels (the same signal in each)."""
    import av

    path = Path(path)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        src = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[None, :], np.float32), format="flt", layout="mono")
        src.sample_rate, src.pts = RATE, 0
        ctx = stream.codec_context
        resampler = av.AudioResampler(format=ctx.format.name, layout=layout, rate=rate,
                                      frame_size=ctx.frame_size or None)
        for frame in [*resampler.resample(src), *resampler.resample(None)]:
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
