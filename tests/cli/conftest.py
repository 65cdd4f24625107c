"""Fixtures of the CLI tests that train tiny runs: one torch thread, the shared tiny models."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared CPU train faster on one thread (see tests/training/conftest.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from altsa.training.synthetic import setup_tiny

    return setup_tiny(tmp_path_factory.getbasetemp() / "altsa-synthetic")  # shared with tests/training
