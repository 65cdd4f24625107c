"""Fixtures for the data tests: the shared MELD files and small CSV/JSONL files we write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MELD_DIR = SHARED / "meld"


@pytest.fixture(scope="session")
def meld_dir() -> Path:
    if not (MELD_DIR / "dev_sent_emo.csv").is_file():
        pytest.skip(f"shared MELD data not found at {MELD_DIR} (see ../shared/data/README.md)")
    return MELD_DIR.resolve()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """``write_file(name, text_or_bytes)`` -> path in a fresh temp folder."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return write
