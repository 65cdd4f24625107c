"""Tiny random-initialised models of the paper's encoder families, saved once per session.

They load through the same ``from_pretrained`` code as the paper preset's checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in these tests may reach a model hub


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
