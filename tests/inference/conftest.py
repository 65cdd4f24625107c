"""Tiny run directories for inference tests (``altsa.inference.tiny``): random-initialised
models of the real classes in the run layout ``load_run`` reads. No hub, seconds to build."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory) -> dict[str, Path]:
    from altsa.inference.tiny import save_tiny_encoders

    return save_tiny_encoders(tmp_path_factory.mktemp("encoders"))


def make_run(path: Path, encoders: dict[str, Path], **kw) -> Path:
    from altsa.inference.tiny import save_tiny_run

    return save_tiny_run(path, encoders, **kw)


@pytest.fixture(scope="session")
def text_run(tiny_encoders, tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "text-causal", tiny_encoders)


@pytest.fixture(scope="session")
def av_run(tiny_encoders, tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "text-audio", tiny_encoders, modalities=("text", "audio"))


@pytest.fixture(scope="session")
def bilstm_run(tiny_encoders, tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "bilstm", tiny_encoders, causal=False, context="bilstm",
                    text_mode="context")


@pytest.fixture(scope="session")
def text_rec(text_run):
    from altsa.inference import Recognizer

    return Recognizer.from_pretrained(text_run)


@pytest.fixture(scope="session")
def av_rec(av_run):
    from altsa.inference import Recognizer

    return Recognizer.from_pretrained(av_run)


@pytest.fixture
def conversation():
    """``conversation(n)``: n utterance dicts of a short three-speaker exchange."""
    return make_conversation


def make_conversation(n: int = 6) -> list[dict]:
    lines = [
        ("Ann", "We won the match!"),
        ("Bob", "No way, are you serious?"),
        ("Ann", "Totally serious. I scored twice."),
        ("Cy", "I missed it. I'm so annoyed."),
        ("Bob", "You always miss the good ones."),
        ("Ann", "Next time, come with us."),
    ]
    return [{"speaker": s, "text": t} for s, t in (lines * (n // len(lines) + 1))[:n]]
