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
