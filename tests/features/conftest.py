"""Fixtures for the feature-cache tests: tiny models, small corpora, clips made with PyAV."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from altsa.data.schema import Conversation, Corpus, Utterance

WORDS = ("okay", "what", "really", "no", "way", "you", "know", "I", "can't", "believe", "this", "is", "great",
         "so", "happy", "for", "us", "hey", "listen", "fine", "whatever", "oh", "my", "god", "stop")
SPEAKERS = ("Ross", "Rachel", "Monica", "Chandler", "Joey", "Phoebe")


def random_turns(dialogues: int, turns: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    return [
        [(rng.choice(SPEAKERS[:3 + d % 3]), " ".join(rng.choices(WORDS, k=rng.randint(2, 12))).capitalize() + ".")
         for _ in range(turns)]
        for d in range(dialogues)
    ]


def make_corpus(dialogues: int = 6, turns: int = 5, *, seed: int = 0, name: str = "toy") -> Corpus:
    convs = [
        Conversation(str(d), [Utterance(str(d), i, who, text) for i, (who, text) in enumerate(rows)])
        for d, rows in enumerate(random_turns(dialogues, turns, seed))
    ]
    return Corpus(name, convs, {})


def write_meld_csv(path: Path, dialogues: int, turns: int, seed: int = 0) -> Path:
    """A file in MELD's published column layout, read by the real MELD reader."""
    cols = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
            "Episode", "StartTime", "EndTime"]
    emotions = ("neutral", "joy", "anger", "surprise")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(cols)
        n = 0
        for d, rows in enumerate(random_turns(dialogues, turns, seed)):
            for i, (who, text) in enumerate(rows):
                n += 1
                emo = emotions[(d + i) % len(emotions)]
                sent = {"neutral": "neutral", "joy": "positive"}.get(emo, "negative")
                out.writerow([n, text, who, emo, sent, d, i, 1, 1, "00:00:01,000", "00:00:02,000"])
    return path


def make_clip(path: Path, seconds: float = 1.0, *, audio: bool = True, video: bool = True, seed: int = 0) -> Path:
    """A small mp4: h264 noise frames (10 fps, 32x32) and/or an AAC tone with noise (16 kHz)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10) if video else None
        if vs is not None:
            vs.width = vs.height = 32
            vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        if aus is not None:
            t = np.arange(int(seconds * 16000)) / 16000
            wave = (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(t.size))
            wave = wave.astype(np.float32)
            for i in range(0, wave.size, 1024):
                frame = av.AudioFrame.from_ndarray(wave[None, i : i + 1024], format="fltp", layout="mono")
                frame.sample_rate = 16000
                frame.pts = i
                out.mux(aus.encode(frame))
            out.mux(aus.encode(None))
        if vs is not None:
            for _ in range(int(seconds * 10)):
                img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(vs.encode(None))
    return path


@pytest.fixture
def clip_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, **kw) -> Path:
        return make_clip(tmp_path / name, **kw)

    return make


@pytest.fixture
def corpus_factory() -> Callable[..., Corpus]:
    """``corpus_factory(dialogues, turns, seed=, name=)`` -> a Corpus built in memory."""
    return make_corpus


@pytest.fixture
def meld_csv_factory() -> Callable[..., Path]:
    """``meld_csv_factory(path, dialogues, turns, seed=)`` -> a MELD-layout CSV file."""
    return write_meld_csv
