"""Teacher stage over cached lower states: train the text encoder's top blocks (or LoRA
adapters inside them) with the ALTSA text branch, the frozen blocks below computed once.

Used when the text encoder config has ``freeze: true``, ``unfreeze_last: N`` and option
``cache_lower: true`` (e.g. ``meld-text-accurate``: all-mpnet-base-v2, N = 2, LoRA). Same
objective as the end-to-end teacher (``training.finetune``): CE of the text head on the
speaker-tagged context; the lower blocks run without dropout (they are frozen and cached).

After the stage the run holds ``RUN/text-adapter/`` (PEFT: ``adapter_config.json`` +
``adapter_model.safetensors``, a few MB) or, without LoRA, the whole tuned encoder in
``RUN/text-encoder/``; the tuned encoder's vectors are written into the feature cache from
the cached states (no second pass of the lower blocks), under the fingerprint the tuned
encoder has when loaded the ordinary way (base model + merged adapter).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from altsa.encoders.topblocks import LowerStates, TopBlocks
from altsa.errors import ConfigError
from altsa.losses import Contrast, DistillWeights, TextOut, teacher_objective
from altsa.evaluation.metrics import Selection
from altsa.training.predict import WEIGHTED_F1, dev_score, text_outputs

# The linear layers LoRA adapts in a block, per model type (attention and feed-forward).
LORA_TARGETS = {
    "mpnet": r"attention\.attn\.(q|k|v|o)|intermediate\.dense|output\.dense",
    "bert": r"attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense",
}
LORA_TARGETS["roberta"] = LORA_TARGETS["bert"]
LORA_KEYS = ("r", "alpha", "dropout")


def lora_config(spec: dict[str, Any], model_type: str, blocks: list[int]):
    """A PEFT ``LoraConfig`` adapting the linear layers of ``blocks`` only."""
    from peft import LoraConfig

    unknown = sorted(set(spec) - set(LORA_KEYS))
    if unknown:
        raise ConfigError(f"hf-text option lora: unknown key(s) {', '.join(unknown)}; known: {', '.join(LORA_KEYS)}")
    if model_type not in LORA_TARGETS:
        raise ConfigError(f"hf-text option lora: no LoRA targets known for model type {model_type!r}")
    which = "|".join(str(b) for b in blocks)
    pattern = rf".*encoder\.layer\.({which})\.({LORA_TARGETS[model_type]})"
    r = int(spec.get("r", 16))
    return LoraConfig(r=r, lora_alpha=float(spec.get("alpha", 2 * r)), lora_dropout=float(spec.get("dropout", 0.1)),
                      target_modules=pattern, bias="none")


class TopTeacher(nn.Module):
    """Cached hidden state k -> top blocks -> pooled vector -> the ALTSA text branch (h_t, z_t)."""

    def __init__(self, top: TopBlocks, branch: nn.Module):
        super().__init__()
        self.top, self.branch = top, branch

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        vectors = self.top(states, attention_mask)  # [b, Dt]
        present = torch.ones(vectors.shape[0], dtype=torch.bool, device=vectors.device)
        h, z = self.branch(vectors, present)
        return {"h_t": h, "z_t": z}


class CachedTopEncoder:
    """The tuned encoder as the feature extractor sees it (same fingerprint, inputs and dim),
    computing vectors from the cached lower states instead of the full model."""

    modality = "text"

    def __init__(self, fingerprint: str, base: Any, top: TopBlocks, lower: list[LowerStates], batch_size: int):
        self.fingerprint, self.dim, self.input_spec = fingerprint, base.dim, base.input_spec
        self.cfg, self.top, self.batch_size = base.cfg, top, batch_size
        self.bf16 = any(s.autocast == "bfloat16" for s in lower)  # states made in bfloat16: so is this pass
        self.where = {t: (s, i) for s in lower for i, t in enumerate(s.texts)}

    def build_inputs(self, conversation):  # noqa: ANN001
        from altsa.encoders.text import text_inputs

        return text_inputs(conversation, **self.input_spec)

    @torch.no_grad()
    def encode(self, texts: list[str]) -> torch.Tensor:
        missing = [t for t in texts if t not in self.where]
        if missing:
            raise ConfigError(f"no cached lower states for the text input {missing[0][:60]!r}")
        out = torch.zeros(len(texts), self.dim)
        was = self.top.training
        self.top.eval()
        try:
            for start in range(0, len(texts), self.batch_size):
                chunk = texts[start : start + self.batch_size]
                by_store: dict[int, list[int]] = {}
                stores = {}
                for j, t in enumerate(chunk):
                    s, i = self.where[t]
                    stores[id(s)] = s
                    by_store.setdefault(id(s), []).append(j)
                for key, rows in by_store.items():
                    s = stores[key]
                    batch = s.batch([self.where[chunk[j]][1] for j in rows])
                    device = next(self.top.parameters()).device
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                        vectors = self.top(batch["states"].to(device), batch["attention_mask"].to(device))
                    out[torch.tensor([start + j for j in rows])] = vectors.float().cpu()
        finally:
            self.top.train(was)
        return out


def top_blocks_setup(enc: Any) -> tuple[int, nn.Module, Any]:
    """(k, the encoder's HF model with LoRA injected when asked, the PEFT model or None)."""
    from altsa.encoders.hf import layer_stack

    cfg = enc.cfg
    n = len(layer_stack(enc.module) or [])
    if not cfg.freeze or not 0 < cfg.unfreeze_last <= n:
        raise ConfigError(f"cache_lower needs freeze: true and 1 <= unfreeze_last <= {n} (got {cfg.unfreeze_last})")
    if enc.layers is not None and len(enc.layers) > 1:
        # one index is fine: the model is cut there at load, so it is the last layer
        raise ConfigError("cache_lower: option layers must name one hidden state (averaging several is not supported)")
    k = n - cfg.unfreeze_last
    model = enc.module
    spec = enc.options["lora"]
    if spec is None:
        return k, model, None
    if not isinstance(spec, dict):
        raise ConfigError(f"hf-text option lora must be a mapping like {{r: 16, alpha: 32, dropout: 0.1}}, not {spec!r}")
    from peft import get_peft_model

    model.requires_grad_(False)
    peft_model = get_peft_model(model, lora_config(spec, model.config.model_type, list(range(k, n))))
    return k, model, peft_model


def lora_parameter_names(module: nn.Module) -> list[str]:
    return [n for n, _ in module.named_parameters() if re.search(r"\.lora_(A|B)\.", n)]


def save_adapter(peft_model: Any, folder: Path, base_ref: str) -> None:
    """Write the PEFT adapter (``adapter_config.json`` names the base by its config reference,
    e.g. ``parts:all-mpnet-base-v2``, never a local path)."""
    from altsa.encoders.hf import quiet_transformers

    import json

    from altsa.io import atomic_write_json

    with quiet_transformers():
        peft_model.save_pretrained(str(folder))
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_ref
    atomic_write_json(folder / "adapter_config.json", config)
    (folder / "README.md").unlink(missing_ok=True)  # PEFT's empty model-card template


def outputs(teacher: TopTeacher, lower: LowerStates, rows: list[int], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(h [n, d], z [n, C]) of the text branch in eval mode for ``rows`` of the cached states."""
    device = next(teacher.parameters()).device

    def forward(idx: list[int]) -> dict[str, torch.Tensor]:
        b = lower.batch([rows[i] for i in idx])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=lower.autocast == "bfloat16"):
            return teacher(b["states"].to(device), b["attention_mask"].to(device))

    lengths = [int(lower.offsets[r + 1] - lower.offsets[r]) for r in rows]
    return text_outputs(teacher, lengths, batch_size, forward)


def score(teacher: TopTeacher, lower: LowerStates, labels: torch.Tensor, batch_size: int,
          metric: Selection = WEIGHTED_F1) -> float:
    """The dev score (``metric``) of the text head over cached dev states."""
    return dev_score(labels, outputs(teacher, lower, list(range(len(lower.texts))), batch_size)[1], metric=metric)


def make_loss(weight, label_smoothing, hp: DistillWeights | None = None, contrast: Contrast | None = None,
              rdrop: float = 0.0):
    """The teacher objective (``altsa.losses.teacher_objective``) over batches of cached states:
    CE of the text head, or with ``hp`` the student objective against the batch's ``z_teacher`` /
    ``h_teacher``; with ``rdrop`` two passes, with ``contrast`` plus ``L_con(h)``."""

    def forward(module, batch) -> TextOut:
        out = module(batch["states"], batch["attention_mask"])
        return TextOut(out["z_t"], out["h_t"], batch["labels"], batch.get("z_teacher"), batch.get("h_teacher"))

    return teacher_objective(forward, weight=weight, label_smoothing=label_smoothing, hp=hp, contrast=contrast,
                             rdrop=rdrop)
