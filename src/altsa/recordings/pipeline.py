"""A recording -> a ``Transcript``: voice activity, words, speakers, utterances.

    t = transcribe_recording("meeting.mp4", RecordingConfig(speakers=2))
    t.conversation           # altsa Conversation: text, speaker, start/end (seconds), media (the file)
    t.items()                # the same utterances with their audio (and frames) for the Recognizer

Steps (each timed in ``Transcript.timings``): decode the whole audio track to 16 kHz mono
(PyAV); Silero VAD regions (faster-whisper's copy); Whisper words with times over the
regions only; split regions at Whisper's segment boundaries; a speaker vector per piece
(Resemblyzer's encoder) and agglomerative clustering; pieces -> utterances
(``altsa.recordings.segment``).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from altsa.data.media import Absent, MediaConfig
from altsa.data.schema import Conversation, Utterance
from altsa.recordings import asr, segment, speakers
from altsa.recordings.config import RecordingConfig
from altsa.recordings.source import RATE, RecordingInfo, Source, load_audio, span_frames

NO_SPEECH = "no speech found"


@dataclass
class Transcript:
    """A transcribed recording: its utterances and what is needed to label them."""

    source: Source  # the path (or the bytes of an upload)
    info: RecordingInfo
    duration: float  # seconds of audio decoded
    language: str
    conversation: Conversation | None  # None when no speech was found; utterances carry start/end
    wave: np.ndarray = field(repr=False)  # the whole audio track, 16 kHz mono float32
    notices: list[str] = field(default_factory=list)  # what a user should know (no speech, dropped regions)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    words: list[list[asr.Word]] = field(default_factory=list, repr=False)  # per utterance

    @property
    def utterances(self) -> list[Utterance]:
        return list(self.conversation.utterances) if self.conversation is not None else []

    def span(self, i: int) -> tuple[float, float]:
        u = self.utterances[i]
        return float(u.start), float(u.end)  # type: ignore[arg-type]

    def clip(self, i: int) -> np.ndarray:
        """The audio of utterance ``i``: float32 16 kHz samples of its span."""
        start, end = self.span(i)
        return self.wave[int(round(start * RATE)) : int(round(end * RATE))]

    def frames(self, cfg: MediaConfig) -> list[np.ndarray | Absent]:
        """``cfg.num_frames`` video frames over each utterance's span (``Absent`` per utterance
        when the recording has no video)."""
        n = len(self.utterances)
        if not self.info.video:
            return [Absent("no_video_stream")] * n
        return span_frames(self.source, [self.span(i) for i in range(n)], cfg)

    def items(self, *, video: MediaConfig | None = None) -> list[dict[str, Any]]:
        """Utterance dicts the Recognizer reads: text, speaker, position, dialogue id, the
        span's audio, and (with ``video``, when the file has a video stream) its frames."""
        frames = self.frames(video) if video is not None and self.info.video else None
        out = []
        for i, u in enumerate(self.utterances):
            item: dict[str, Any] = {
                "dialogue_id": u.dialogue_id, "position": u.position, "speaker": u.speaker,
                "text": u.text, "audio": self.clip(i),
            }  # fmt: skip
            if frames is not None and not isinstance(frames[i], Absent):
                item["video"] = frames[i]
            out.append(item)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The conversation as one JSONL object (docs/data.md): each utterance names the
        recording (``media``, an absolute path; none for uploaded bytes) and its span
        (``start``/``end``), so ``altsa predict MODEL`` on it, edited or not, reads each
        utterance's own audio (and frames)."""
        from altsa.data.readers import conversation_to_dict

        if self.conversation is None:
            return {"dialogue_id": _dialogue_id(self.info), "utterances": []}
        return conversation_to_dict(self.conversation)


def _dialogue_id(info: RecordingInfo) -> str:
    return Path(info.name).stem if info.name != "<upload>" else "recording"


def _seconds(x: float) -> float:
    return round(float(x), 2)  # 10 ms: finer than the boundaries are right


def transcribe_recording(source: Source, cfg: RecordingConfig | None = None, *, dialogue_id: str | None = None) -> Transcript:
    """Transcribe ``source`` (a path or the file's bytes) into utterances with speakers.

    Raises ``MediaError`` (one line) for a file that is not media, has no audio stream, an
    unsupported codec, is truncated, or is longer than ``cfg.max_minutes`` (refused from
    the header, before decoding). A recording without speech gives a transcript with no
    utterances and a notice.
    """
    cfg = (cfg or RecordingConfig()).check()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    wave, info = load_audio(source, max_minutes=cfg.max_minutes)  # checks the header before decoding
    timings["decode"] = time.perf_counter() - t0
    duration = wave.size / RATE
    dialogue = dialogue_id or _dialogue_id(info)
    notices: list[str] = []

    t = time.perf_counter()
    regions = voice_regions(wave, cfg)
    timings["vad"] = time.perf_counter() - t
    language = cfg.language or ("en" if cfg.asr_model.endswith(".en") else "")
    words: list[asr.Word] = []
    if regions:
        t = time.perf_counter()
        whisper = asr.load_model(cfg.asr_model, compute_type=cfg.compute_type, threads=cfg.threads)
        timings["load_asr"] = time.perf_counter() - t
        t = time.perf_counter()
        words, language = asr.transcribe_words(whisper, wave, regions, language=cfg.language, beam_size=cfg.beam_size)
        timings["asr"] = time.perf_counter() - t
    seconds = [(lo / RATE, hi / RATE) for lo, hi in regions]
    parts = segment.pieces(words, seconds)
    wordless = len(regions) - len({p.region for p in parts})
    if wordless:
        notices.append(f"{wordless} of {len(regions)} voice-activity regions held no words and were left out")
    if not parts:
        notices.insert(0, f"{NO_SPEECH} in {info.name} ({duration:.1f} s): the timeline is empty")
        timings["total"] = time.perf_counter() - t0
        return Transcript(source, info, duration, language, None, wave, notices, timings)

    t = time.perf_counter()
    label_speakers(parts, wave, cfg)
    timings["speakers"] = time.perf_counter() - t
    spans = segment.spans(parts, seconds)
    names = [f"Speaker {s.speaker + 1}" for s in spans]
    media = None if isinstance(source, (bytes, bytearray)) else str(Path(source).resolve())
    utterances = [
        Utterance(
            dialogue_id=dialogue, position=i, speaker=name, text=s.text, media=media,
            start=_seconds(s.start), end=_seconds(min(s.end, duration)),
        )
        for i, (s, name) in enumerate(zip(spans, names))
    ]  # fmt: skip
    timings["total"] = time.perf_counter() - t0
    return Transcript(
        source, info, duration, language, Conversation(dialogue, utterances), wave, notices, timings,
        words=[s.words for s in spans],
    )  # fmt: skip


def voice_regions(wave: np.ndarray, cfg: RecordingConfig) -> list[tuple[int, int]]:
    """Speech regions ``(start, end)`` in samples (Silero VAD, faster-whisper's copy)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=cfg.vad_threshold,
        min_speech_duration_ms=int(cfg.min_speech_s * 1000),
        min_silence_duration_ms=int(cfg.min_pause_s * 1000),
        speech_pad_ms=int(cfg.speech_pad_s * 1000),
    )
    return [(int(r["start"]), int(r["end"])) for r in get_speech_timestamps(wave, options, sampling_rate=RATE)]


def label_speakers(parts: list[segment.Piece], wave: np.ndarray, cfg: RecordingConfig) -> None:
    """Set ``piece.speaker`` (0, 1, ... by first appearance). Pieces of at least
    ``min_embed_s`` are clustered; shorter ones (a "yes", an "oh") carry too little voice
    for a reliable vector and take the nearest cluster's speaker."""
    if cfg.speakers == 1 or len(parts) == 1:
        for p in parts:
            p.speaker = 0
        return
    clips = [wave[int(p.start * RATE) : max(int(p.end * RATE), int(p.start * RATE) + 1)] for p in parts]
    with _torch_threads(cfg.threads):
        vectors = speakers.embed(clips)  # [pieces, 256]
    long_ = [i for i, p in enumerate(parts) if p.end - p.start >= cfg.min_embed_s]
    if len(long_) < 2:
        long_ = list(range(len(parts)))
    labels = speakers.cluster(
        vectors[long_], speakers=cfg.speakers, max_speakers=cfg.max_speakers, threshold=cfg.speaker_threshold
    )
    k = int(labels.max()) + 1
    centroids = np.stack([vectors[long_][labels == c].mean(0) for c in range(k)])  # [k, 256]
    assigned = speakers.nearest(vectors, centroids)
    assigned[long_] = labels  # clustered pieces keep their own cluster
    order: dict[int, int] = {}
    for p, label in zip(parts, assigned.tolist()):
        p.speaker = order.setdefault(label, len(order))


@contextlib.contextmanager
def _torch_threads(n: int):
    """torch's intra-op threads set to ``n`` (0: unchanged) for the block only."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
