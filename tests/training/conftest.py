"""Fixtures: the synthetic corpus (``altsa.training.synthetic``), tiny random encoders, one
feature cache per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread for tiny models: on a shared CPU, spin-waiting threads cost more than
    they parallelise (measured here: a tiny three-stage run 44 s with 2 threads, 14 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> dict:
    """Synthetic corpus + tiny encoders + feature cache, shared with tests/cli (same folder)."""
    from altsa.training.synthetic import setup_tiny

    return setup_tiny(tmp_path_factory.getbasetemp() / "altsa-synthetic")


@pytest.fixture(scope="session")
def corpus_dir(synthetic) -> Path:
    return synthetic["corpus"]


@pytest.fixture(scope="session")
def tiny_models(synthetic) -> dict[str, Path]:
    return synthetic["models"]


@pytest.fixture(scope="session")
def shared_cache(synthetic) -> Path:
    return synthetic["cache"]


@pytest.fixture(scope="session")
def tiny(corpus_dir, tiny_models, shared_cache):
    """``tiny(base=None, extra=[...], **kw)`` -> an ExperimentConfig on the synthetic corpus."""
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.synthetic import tiny_overrides

    def make(base: str | None = None, extra: list[str] | None = None, **kw):
        preset = load_config(ExperimentConfig, base).encoders.preset if base else "embedded"
        overrides = tiny_overrides(corpus_dir, tiny_models, shared_cache, preset=preset, **kw)
        return load_config(ExperimentConfig, base, overrides + list(extra or []))

    return make
