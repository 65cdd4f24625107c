"""One place that turns a user's ``--device`` into a ``torch.device``, or a one-line error.

torch's own failures for a device it was not built for are an ``AssertionError`` ("Torch not
compiled with CUDA enabled") or a ``RuntimeError`` deep inside the first ``.to()``; users need
to hear which torch they have and how to get one that runs on their accelerator.
"""

from __future__ import annotations

import re

import torch

from altsa.errors import ConfigError

# The README's "Installing elsewhere" gives the same command.
CUDA_INSTALL = "pip install --force-reinstall torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"

_FORM = re.compile(r"^(cpu|cuda|mps|auto)(:\d+)?$")


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (CUDA when usable, else CPU).

    Raises:
        ConfigError: an unknown device name, or one this torch build or machine cannot use.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    match = _FORM.match(text)
    if match is None or (match.group(1) in ("cpu", "auto") and match.group(2)):
        raise ConfigError(f"--device {name!r}: use cpu, cuda, cuda:N, mps or auto")
    kind = match.group(1)
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        if not torch.backends.cuda.is_built():
            raise ConfigError(f"--device {name}: this torch ({torch.__version__}) was built without CUDA; "
                              f"install a CUDA build: {CUDA_INSTALL}")
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: torch has CUDA but sees no GPU on this machine "
                              "(driver missing or CUDA_VISIBLE_DEVICES empty)")
        index = int(match.group(2)[1:]) if match.group(2) else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s), "
                              f"numbered from 0")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: Apple's MPS backend is not available on this machine")
    return torch.device(text)
