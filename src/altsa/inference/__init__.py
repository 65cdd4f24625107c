"""Inference: the Recognizer API over trained runs and bundled models.

Attributes load lazily so that ``altsa.inference.bundled`` (consulted by run resolution in
``altsa.training``) can be imported without pulling in the Recognizer and its imports.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Recognizer": "altsa.inference.recognizer",
    "StreamSession": "altsa.inference.stream",
    "UtterancePrediction": "altsa.inference.predictions",
    "list_bundled": "altsa.inference.bundled",
    "bundled_path": "altsa.inference.bundled",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'altsa.inference' has no attribute {name!r}")
