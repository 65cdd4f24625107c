"""Paths taken from corpus files and the command line, looked at without raising or blocking.

A media path inside a corpus is data: it may hold a NUL byte, be longer than the system
allows, or name a pipe. Asking the file system about such a path raises (``ValueError:
embedded null byte``, ``OSError: File name too long``) or, for a pipe, ``open`` waits for a
writer forever. ``path_kind`` answers for any path, and ``shown`` quotes any text short
enough for a one-line message.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from altsa.errors import DataError

SHOWN_CHARS = 200  # file content echoed in a message: at most this many characters


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending with ``...`` and its length when cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def path_kind(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(kind, why)``: kind ``file`` (a regular file), ``dir``, ``other`` (a pipe, a device, a
    socket), ``missing``, or ``bad_name`` (a name the system cannot take: a NUL byte, too long),
    ``error`` (cannot be looked at, e.g. a folder without permission); ``why`` says what, for
    messages. Never raises and never opens the path."""
    try:
        st = os.stat(path)
    except ValueError:  # NUL byte
        return "bad_name", "the path holds a NUL byte"
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "missing", "not found"
        if exc.errno == errno.ENAMETOOLONG:
            return "bad_name", f"the path is too long for the system ({len(os.fspath(path)):,} characters)"
        return "error", exc.strerror or str(exc)
    if stat.S_ISREG(st.st_mode):
        return "file", ""
    if stat.S_ISDIR(st.st_mode):
        return "dir", "a directory"
    return "other", "not a regular file (a pipe, device or socket)"


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """``Path.is_file`` that answers ``False`` instead of raising for any path."""
    return path_kind(path)[0] == "file"


def named_path(path: str | os.PathLike[str]) -> Path:
    """``Path(path)``, but ``DataError`` for an empty path: ``Path("")`` is the current folder,
    which would then be read as a folder of clips."""
    if not os.fspath(path):
        raise DataError("empty path: name a corpus file (or a folder of clips)")
    return Path(path)


def input_path(path: str | os.PathLike[str], *, folders: bool = True) -> Path:
    """The path of a corpus to read, checked before anything opens it: ``DataError`` when it
    is empty (``named_path``), missing, or not a regular file (a pipe would block ``open``
    forever); a folder passes when ``folders`` (a folder of clips)."""
    named_path(path)
    kind, why = path_kind(path)
    if kind == "file" or (kind == "dir" and folders):
        return Path(path)
    where = shown(os.fspath(path))
    if kind == "missing":
        raise DataError("file not found", path=where)
    if kind == "dir":
        raise DataError("is a directory, not a corpus file", path=where)
    if kind == "other":
        raise DataError("not a file", path=where)
    raise DataError(f"cannot read file: {why}", path=where)
