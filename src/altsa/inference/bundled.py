"""Models shipped inside the package (``altsa/bundled/<name>/``), usable by name anywhere a
command or the API takes a model: ``Recognizer.from_pretrained("meld-text-minilm")``,
``altsa evaluate meld-text-minilm ...``.

A bundled model is a run directory without checkpoints: ``config.yaml``, ``labels.json``,
``model.safetensors`` (heads, fusion and context model; the encoder comes from its own
package), ``metrics.json`` and, when its text encoder was tuned, ``text-adapter/`` (a PEFT
LoRA adapter, merged into the package's encoder at load). This module imports nothing heavy so that run resolution
(``altsa.training``) can consult it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from altsa.errors import ModelError
from altsa.registry import Registry


@dataclass(frozen=True)
class BundledModel:
    name: str
    summary: str  # one line for listings
    card: str  # the model card in docs/

    @property
    def path(self) -> Path:
        return Path(str(resources.files("altsa") / "bundled" / self.name))

    @property
    def installed(self) -> bool:
        return (self.path / "config.yaml").is_file() and (self.path / "model.safetensors").is_file()


BUNDLED: Registry[BundledModel] = Registry("bundled model")


def _add(model: BundledModel) -> None:
    BUNDLED.register(model.name)(model)


_add(BundledModel(
    name="meld-text-minilm",
    summary="MELD 7 emotions, text only, all-MiniLM-L6-v2 (LoRA in its top blocks, distilled from the accurate model's first step) "
    "+ causal LSTM (streams in O(1) per turn); the default",
    card="docs/model-card-meld-text-minilm.md",
))
_add(BundledModel(
    name="meld-text-accurate",
    summary="MELD 7 emotions, text only, all-mpnet-base-v2 (LoRA in its top blocks) + causal LSTM; "
    "needs pip install 'altsa[accurate]'",
    card="docs/model-card-meld-text-accurate.md",
))


def list_bundled() -> list[str]:
    """Names of the bundled models present in this installation."""
    return [name for name in BUNDLED.names() if BUNDLED.get(name).installed]


def bundled_path(name: str) -> Path | None:
    """The folder of bundled model ``name``, or None if ``name`` is not a bundled model.

    A registered name whose files are missing (a broken installation) is an error, not
    None, so it is never mistaken for a relative run directory.
    """
    if name not in BUNDLED:
        return None
    model = BUNDLED.get(name)
    if not model.installed:
        raise ModelError(f"bundled model {name!r} is not installed in {model.path} (reinstall altsa)")
    return model.path
