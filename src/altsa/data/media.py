"""Media decoding with PyAV: 16 kHz mono waveforms and uniformly sampled RGB frames.

Decoding never crashes on bad input: a missing, corrupt, silent or empty clip yields an
``Absent`` outcome with a reason, which the feature cache stores as a mask and reports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Absent:
    """A modality that is not there for an utterance, and why (counted and reported)."""

    reason: str  # missing_file | unreadable | no_audio_stream | no_video_stream | zero_frames | silent | too_long | empty
    detail: str = ""


@dataclass
class MediaConfig:
    """Limits and preprocessing for decoding; part of every audio/video encoder fingerprint."""

    sample_rate: int = 16000  # Data2VecAudio and Whisper expect 16 kHz
    max_seconds: float = 30.0  # MELD has clips of 235 s and 305 s; cut or skip beyond this
    long_clips: str = "cut"  # "cut" to max_seconds, or "skip" (Absent("too_long"))
    num_frames: int = 8  # TimeSformer-base reads 8 frames
    silence_rms: float = 1e-4  # below this RMS the audio counts as silent (absent)
