"""The ALTSA model: modality branches -> fusion -> conversation model -> classifier.

Spec: ALTSA.md "Architecture". The model reads encoder vectors (cached features, or the
output of a fine-tuned text encoder), so it is the same module whether encoders are frozen
or not. ``dims`` names the modalities it has: a text-only model is ``{"text": 384}``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from altsa.errors import ConfigError, ModelError
from altsa.model.branches import ModalityBranch
from altsa.model.config import ModelConfig
from altsa.model.context import CONTEXTS
from altsa.model.fusion import FUSIONS

MODALITIES = ("text", "audio", "video")  # the order of ``present`` and ``weights``
OUTPUT_KEYS = ("logits", "weights", "z_t", "z_a", "z_v", "h_t", "h_a", "h_v")


class ALTSAModel(nn.Module):
    """Args:
    cfg: model hyperparameters.
    dims: modality -> encoder vector size; modalities left out do not exist in this model.
    num_classes: number of labels.
    """

    def __init__(self, cfg: ModelConfig, dims: dict[str, int], num_classes: int):
        super().__init__()
        unknown = sorted(set(dims) - set(MODALITIES))
        if unknown:
            raise ConfigError(f"unknown modality {unknown[0]!r}; modalities are: {', '.join(MODALITIES)}")
        if not dims:
            raise ConfigError("a model needs at least one modality")
        if num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes (got {num_classes})")
        self.cfg = cfg
        self.dims = {m: int(dims[m]) for m in MODALITIES if m in dims}
        self.num_classes = num_classes
        self.modalities = list(self.dims)
        use = list(cfg.modalities) if cfg.modalities is not None else list(self.modalities)
        missing = [m for m in use if m not in self.dims]
        if not use:
            raise ConfigError("model.modalities is empty: name at least one modality")
        if missing:
            raise ConfigError(
                f"model.modalities asks for {'/'.join(missing)}, but there are {'/'.join(self.modalities)} features only "
                f"(no {'/'.join(missing)} encoder configured, or no {'/'.join(missing)} in the training data)"
            )
        self.use = [m for m in MODALITIES if m in use]
        for m in cfg.modality_dropout_on:
            if m not in MODALITIES:
                raise ConfigError(f"model.modality_dropout_on: unknown modality {m!r}")
        self.branches = nn.ModuleDict(
            {
                m: ModalityBranch(
                    dim,
                    cfg.d,
                    num_classes,
                    projection=cfg.projection,
                    dropout=cfg.dropout,
                    input_dropout=cfg.input_dropout,
                    input_norm=cfg.input_norm,
                )
                for m, dim in self.dims.items()
            }
        )
        self.fusion = FUSIONS.get(cfg.fusion)(cfg)
        self.context = CONTEXTS.get(cfg.context)(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(self.context.out_dim, num_classes)
        self.register_buffer("has", torch.tensor([m in self.dims for m in MODALITIES]), persistent=False)
        self.register_buffer("used", torch.tensor([m in self.use for m in MODALITIES]), persistent=False)

    # -- pieces, used by the training stages -------------------------------------------------

    def branch_outputs(self, inputs: dict[str, torch.Tensor | None], present: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each modality's latent and logits: h_t/h_a/h_v [..., d] (0 where absent), z_* [..., C]."""
        shape = present.shape[:-1]
        out: dict[str, torch.Tensor] = {}
        for k, m in enumerate(MODALITIES):
            x = inputs.get(m)
            if m in self.branches and x is not None:
                h, z = self.branches[m](x, present[..., k])
            else:
                h = present.new_zeros(*shape, self.cfg.d, dtype=torch.float32)
                z = present.new_zeros(*shape, self.num_classes, dtype=torch.float32)
            out[f"h_{m[0]}"], out[f"z_{m[0]}"] = h, z
        return out

    def _present(self, inputs, present: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
        """Data presence restricted to real utterances and to the modalities this model has."""
        given = torch.tensor([inputs.get(m) is not None for m in MODALITIES], device=mask.device)
        if present is None:
            present = given.expand(*mask.shape, 3)
        if present.shape != (*mask.shape, 3):
            raise ModelError(f"present must have shape {(*mask.shape, 3)}, got {tuple(present.shape)}")
        return present.bool() & mask.unsqueeze(-1) & self.has & given

    def _drop_modalities(self, present: torch.Tensor) -> torch.Tensor:
        """Modality dropout (training only): each listed modality is dropped per utterance with
        probability ``modality_dropout``, never the last one present, so one model learns to
        answer for every subset of modalities."""
        p = self.cfg.modality_dropout
        if not self.training or p <= 0:
            return present
        droppable = torch.tensor([m in self.cfg.modality_dropout_on for m in MODALITIES], device=present.device)
        drop = (torch.rand(present.shape, device=present.device) < p) & droppable & present
        kept = present & ~drop
        none_left = ~kept.any(-1, keepdim=True)  # dropped everything: keep what was there
        return torch.where(none_left, present, kept)

    @staticmethod
    def fusion_inputs(out: dict[str, torch.Tensor], fused_present: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(h_t, h_a, h_v) as the fusion may see them: zero wherever ``fused_present`` says the
        modality is not there, so a modality left out by ``model.modalities`` or dropped by
        modality dropout reaches no attention key, gate input or fusion: exactly as if its
        clip were missing (spec 3; ablations are true ablations)."""
        keep = fused_present.unsqueeze(-1)  # [..., 3, 1]
        return tuple(out[f"h_{m[0]}"] * keep[..., k, :].to(out[f"h_{m[0]}"].dtype) for k, m in enumerate(MODALITIES))

    # -- whole dialogues -------------------------------------------------------------------------

    def forward(
        self,
        text: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
        present: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        branches_only: bool = False,
    ) -> dict[str, torch.Tensor]:
        """text [B,N,Dt], audio [B,N,Da], video [B,N,Dv] (any may be None), present [B,N,3] bool,
        mask [B,N] bool (real utterances first) -> logits [B,N,C], weights [B,N,3], z_* [B,N,C],
        h_* [B,N,d]. ``branches_only`` (teacher and student stages) stops after the branches."""
        inputs = {"text": text, "audio": audio, "video": video}
        ref = next((x for x in inputs.values() if x is not None), None)
        if ref is None:
            raise ModelError("forward needs at least one modality's input")
        b, n = ref.shape[:2]
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=ref.device)
        mask = mask.bool()
        lengths = mask.sum(1, keepdim=True)
        if not torch.equal(mask, torch.arange(n, device=mask.device) < lengths):
            raise ModelError("mask must mark each dialogue's real utterances first, then padding")
        present = self._present(inputs, present, mask)
        out = self.branch_outputs(inputs, present)
        if branches_only:
            return out
        fused_present = self._drop_modalities(present & self.used)
        h_t, h_a, h_v = self.fusion_inputs(out, fused_present)
        m, weights = self.fusion(h_t, h_a, h_v, fused_present, mask)
        ctx = self.context(self.dropout(m), mask)  # [B, N, out_dim]
        out["logits"] = self.classifier(self.dropout(ctx))  # [B, N, C]
        out["weights"] = weights
        return out

    # -- one turn at a time (causal mode) ---------------------------------------------------------

    def init_state(self, batch: int = 1) -> dict[str, Any]:
        """State of ``batch`` live conversations before their first turn (causal mode only)."""
        if not self.cfg.causal or not getattr(self.context, "causal", False):
            raise ModelError("turn-by-turn prediction needs a causal model (model.causal=true)")
        device = self.classifier.weight.device
        return {
            "fusion": self.fusion.init_state(batch, device),
            "context": self.context.init_state(batch, device),
            "turns": 0,
        }

    def step(
        self,
        state: dict[str, Any],
        text: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
        present: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """One new utterance per conversation: text [B,Dt] ... present [B,3] -> (outputs with N
        dropped, new state). Equals ``forward`` on the whole dialogue in causal mode."""
        inputs = {"text": text, "audio": audio, "video": video}
        ref = next((x for x in inputs.values() if x is not None), None)
        if ref is None:
            raise ModelError("step needs at least one modality's input")
        real = torch.ones(ref.shape[0], dtype=torch.bool, device=ref.device)
        present = self._present(inputs, present, real)
        out = self.branch_outputs(inputs, present)
        fused_present = present & self.used
        h_t, h_a, h_v = self.fusion_inputs(out, fused_present)
        m, weights, fusion_state = self.fusion.step(state["fusion"], h_t, h_a, h_v, fused_present)
        ctx, context_state = self.context.step(self.dropout(m), state["context"])
        out["logits"] = self.classifier(self.dropout(ctx))
        out["weights"] = weights
        return out, {"fusion": fusion_state, "context": context_state, "turns": state["turns"] + 1}

    # -- parameter groups, for the training stages --------------------------------------------------

    @torch.no_grad()
    def teacher_targets(self, text: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distillation targets of the frozen teacher: text [..., Dt], present [...] bool ->
        (h_t [..., d], z_t [..., C]) from the text branch in eval mode (no dropout noise in
        the targets, spec 2: "teacher frozen"); the branch's mode is restored after."""
        branch = self.branches["text"]
        was = branch.training
        branch.eval()
        try:
            return branch(text, present)
        finally:
            branch.train(was)

    def teacher_parameters(self) -> list[nn.Parameter]:
        return list(self.branches["text"].parameters()) if "text" in self.branches else []

    def student_parameters(self, modality: str) -> list[nn.Parameter]:
        return list(self.branches[modality].parameters()) if modality in self.branches else []

    def fusion_parameters(self) -> list[nn.Parameter]:
        return [*self.fusion.parameters(), *self.context.parameters(), *self.classifier.parameters()]


def build_model(cfg: ModelConfig, dims: dict[str, int], num_classes: int) -> ALTSAModel:
    """Builder function (torchtune style): the one place a model is constructed from config."""
    return ALTSAModel(cfg, dims, num_classes)
