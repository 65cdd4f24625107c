"""Fixtures every test folder may use. Nothing in the suite may reach a model hub, so the
hub is switched off before anything imports transformers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# Tiny random-initialised models of the paper's encoder families, saved once per session; they
# load through the same ``from_pretrained`` code as the paper preset's checkpoints.


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from altsa.encoders.tiny import save_tiny_roberta

    return save_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


@pytest.fixture(scope="session")
def tiny_data2vec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from altsa.encoders.tiny import save_tiny_data2vec_audio

    return save_tiny_data2vec_audio(tmp_path_factory.mktemp("tiny-data2vec"))


@pytest.fixture(scope="session")
def tiny_timesformer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from altsa.encoders.tiny import save_tiny_timesformer

    return save_tiny_timesformer(tmp_path_factory.mktemp("tiny-timesformer"))


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread for tiny tensors: on a shared CPU, thread spin-waits cost more
    than they parallelise (measured: 3-5x faster here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def altsa_script() -> str:
    """The installed ``altsa`` console script: tests that must see what a user's shell sees
    (exit status, stderr, no traceback) run it as a subprocess."""
    import shutil
    import sys

    script = Path(sys.executable).with_name("altsa")
    found = str(script) if script.is_file() else shutil.which("altsa")
    if found is None:
        pytest.skip("the installed `altsa` script is not on this environment (pip install -e .)")
    return found


# Corpora in public layouts, written by the tests (never dataset files): EmoryNLP's CSVs and
# labelled wav clips. Shared by tests/cli (the config route, the docs' worked examples).

EMORY_COLUMNS = ["Utterance", "Speaker", "Emotion", "Scene_ID", "Utterance_ID", "Season", "Episode", "StartTime",
                 "EndTime"]
EMORY_WORDS = {"Joyful": "this is wonderful, I love it", "Mad": "you always ruin everything",
               "Neutral": "the bus is at five", "Peaceful": "it is calm and quiet here",
               "Powerful": "I can do this, watch me", "Sad": "I miss her so much", "Scared": "what was that noise, help"}
TONES_HZ = {"anger": 660.0, "ang": 660.0, "joy": 440.0, "hap": 440.0, "exc": 440.0, "neutral": 220.0, "neu": 220.0,
            "sad": 150.0, "fru": 550.0, "xxx": 330.0}


def _write_emorynlp(path: Path, *, seasons: int, episodes: int, scenes: int, turns: int, seed: int) -> Path:
    """An EmoryNLP-shaped CSV: Scene_ID and Utterance_ID restart in every episode (as published),
    speakers as list literals, capitalised labels."""
    import csv

    labels = list(EMORY_WORDS)
    g = torch.Generator().manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(EMORY_COLUMNS)
        for season in range(1, seasons + 1):
            for episode in range(1, episodes + 1):
                for scene in range(1, scenes + 1):
                    for turn in range(1, turns + 1):
                        label = labels[int(torch.randint(len(labels), (1,), generator=g))]
                        who = ["Monica Geller", "Joey Tribbiani", "Rachel Green"][turn % 3]
                        w.writerow([EMORY_WORDS[label], f"['{who}']", label, scene, turn, season, episode,
                                    "00:00:01.000", "00:00:02.000"])
    return path


def _write_wav(path: Path, label: str, *, detune: int = 0, seconds: float = 0.6, rate: int = 16000) -> Path:
    """A 16-bit mono wav: a tone whose pitch depends on ``label`` (learnable signal)."""
    import wave

    import numpy as np

    hz = TONES_HZ[label] * (1 + 0.05 * detune)
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="session")
def write_emorynlp():
    return _write_emorynlp


@pytest.fixture(scope="session")
def write_wav():
    return _write_wav
