"""User-facing errors.

Everything a user can cause (a bad file, an unknown label, a wrong config key) raises an
``AltsaError``. The CLI prints its one-line message and exits non-zero, with no stack trace;
the HTTP service maps it to a 4xx JSON body. Anything else is a bug in altsa.
"""

from __future__ import annotations

from pathlib import Path


class AltsaError(Exception):
    """An error whose message is meant for the user, on one line."""

    code = "altsa_error"

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        return where + self.message


class DataError(AltsaError):
    """A corpus file is unreadable or violates the schema (missing column, unknown label, ...)."""

    code = "bad_data"


class ConfigError(AltsaError):
    """A config file or a ``key=value`` override is invalid."""

    code = "bad_config"


class MediaError(AltsaError):
    """A media file cannot be decoded (only raised where a clip is required; elsewhere
    decoding yields an absent modality with a reason)."""

    code = "bad_media"


class ModelError(AltsaError):
    """A model (run directory or bundled name) cannot be found or loaded."""

    code = "bad_model"
