"""Atomic file writes: a long job never leaves a half-written file behind.

Write to a temporary file in the same folder, fsync, then ``os.replace`` (atomic on POSIX
and Windows), so a reader sees either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_dir(final: str | Path, fill: Callable[[Path], None], marker: str) -> Path:
    """Build a folder with ``fill(tmp)`` in a temporary sibling, then rename it onto ``final``
    (converted or joined model files): a crash leaves no half folder, and when another
    process renamed its own first (the rename fails), its folder holding ``marker`` is kept."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp creates 0700
        fill(tmp)
        os.replace(tmp, final)
    except OSError:
        if not (final / marker).is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def user_cache_dir() -> Path:
    """Where altsa keeps per-user files (converted encoder weights, reports of bundled models):
    ``$ALTSA_CACHE_DIR``, else ``$XDG_CACHE_HOME/altsa``, else ``~/.cache/altsa``."""
    if os.environ.get("ALTSA_CACHE_DIR"):
        return Path(os.environ["ALTSA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "altsa"
