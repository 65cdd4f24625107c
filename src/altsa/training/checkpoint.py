"""Checkpoints without pickle: weights, optimiser state and RNG state as safetensors plus JSON.

A checkpoint is a folder written atomically (temp folder + rename), so a run killed while
saving keeps its previous checkpoint intact and ``--resume`` finds either the old or the new.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from altsa.errors import ModelError
from altsa.io import atomic_write, atomic_write_json


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors file, written atomically; tensors are made contiguous CPU copies."""
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda p: save_file(data, str(p), metadata=metadata))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise ModelError(f"missing weights file {path}") from None
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ModelError(f"cannot read weights file {path}: {err}") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except FileNotFoundError:
        raise ModelError(f"missing weights file {path}") from None
    except Exception as err:
        raise ModelError(f"cannot read weights file {path}: {err}") from None


def optimizer_to_files(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimiser ``state_dict`` -> (tensors, JSON): tensors under ``"<param>.<name>"``."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for pid, slots in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(slots)
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_state() -> dict[str, torch.Tensor]:
    """Every RNG the loop draws from (dropout, modality dropout), as uint8 tensors."""
    out = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"cuda{i}"] = s
    return out


def set_rng_state(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is a dependency; keep seeding robust anyway
        pass


def save_checkpoint(
    folder: str | Path,
    *,
    model: dict[str, torch.Tensor],
    optimizer: dict[str, Any] | None,
    state: dict[str, Any],
    extra: dict[str, dict[str, torch.Tensor]] | None = None,
) -> None:
    """Write ``folder/`` = model.safetensors, optimizer.safetensors + optimizer.json,
    rng.safetensors, state.json (+ ``<name>.safetensors`` per ``extra`` entry, e.g. the EMA
    weights), atomically (folder swap)."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_tensors(tmp / "model.safetensors", model)
    if optimizer is not None:
        tensors, meta = optimizer_to_files(optimizer)
        save_tensors(tmp / "optimizer.safetensors", tensors)
        atomic_write_json(tmp / "optimizer.json", meta)
    save_tensors(tmp / "rng.safetensors", rng_state())
    for name, tensors in (extra or {}).items():
        save_tensors(tmp / f"{name}.safetensors", tensors)
    atomic_write_json(tmp / "state.json", state)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint at ``folder``, or the one a crash inside ``save_checkpoint``'s
    swap left behind: ``folder.tmp`` once whole (its state.json is written last) is newer than
    ``folder.old``; after a second crash only the ``.tmp`` may be left."""
    folder = Path(folder)
    for cand in (folder, folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")):
        if (cand / "state.json").is_file() and (cand / "model.safetensors").is_file():
            return cand
    return None


def load_checkpoint(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    out: dict[str, Any] = {
        "model": load_tensors(folder / "model.safetensors"),
        "state": read_json(folder / "state.json"),
        "rng": load_tensors(folder / "rng.safetensors"),
        "optimizer": None,
        "ema": load_tensors(folder / "ema.safetensors") if (folder / "ema.safetensors").is_file() else None,
    }
    if (folder / "optimizer.json").is_file():
        meta = read_json(folder / "optimizer.json")
        out["optimizer"] = optimizer_from_files(load_tensors(folder / "optimizer.safetensors"), meta)
    return out


def read_json(path: Path) -> Any:
    """A JSON file of a run; one the run did not write (every write is atomic) is a ``ModelError``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{path} is damaged ({str(err).splitlines()[0][:100]}); it was written whole, so something "
                         "else changed it: restore it, or remove the run's checkpoints/<stage>/ to redo that stage") from None
