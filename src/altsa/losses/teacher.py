"""The teacher stage's objective for the text branch, shared by its four routes (frozen vectors
over dialogues, with or without a text teacher; the encoder fine-tuned; the top blocks over
cached lower states), so every route gets the same options:

- CE of the text head, or with ``hp`` (text -> text distillation) the student objective
  ``CE + lambda_logit L_rel(z, z_T) + lambda_feat L_sim(h, h_T)`` (``losses.student_loss``);
- ``rdrop > 0``: two passes and their symmetric KL (``losses.rdrop``);
- ``contrast``: ``+ weight * L_con(h)`` of the first pass's vectors (``losses.contrastive``).

A route supplies only ``forward(module, batch) -> TextOut``: its rows are the utterances that
count (real turns with text), flattened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from altsa.losses.contrastive import Contrast, with_contrast
from altsa.losses.objectives import DistillWeights, classification_loss, student_loss
from altsa.losses.rdrop import rdrop_loss


@dataclass
class TextOut:
    """One pass of the text branch over a batch: logits z [n, C], vectors h [n, d], labels [n]
    (IGNORE for unlabelled rows) and, when distilling, the teacher's z_T [n, C] and h_T [n, (K,) d]."""

    z: torch.Tensor
    h: torch.Tensor
    labels: torch.Tensor
    z_teacher: torch.Tensor | None = None
    h_teacher: torch.Tensor | None = None


def teacher_objective(forward: Callable[[Any, dict[str, Any]], TextOut], *, weight: torch.Tensor | None = None,
                      label_smoothing: float = 0.0, hp: DistillWeights | None = None,
                      contrast: Contrast | None = None, rdrop: float = 0.0):
    """A stage loss ``(module, batch) -> parts`` from a route's ``forward``."""

    def objective(out: TextOut) -> dict[str, torch.Tensor]:
        if hp is None:
            return classification_loss(out.z, out.labels, weight=weight, label_smoothing=label_smoothing)
        return student_loss(out.z, out.h, out.z_teacher, out.h_teacher, out.labels, hp, weight=weight,
                            label_smoothing=label_smoothing)

    def loss(module: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = forward(module, batch)
        parts = objective(out)
        if rdrop > 0:
            again = forward(module, batch)  # the module is in train mode: new dropout masks
            second = objective(again)
            parts = {k: (v + second[k]) / 2 for k, v in parts.items()}
            r = rdrop_loss(out.z, again.z)
            parts["loss"] = parts["loss"] + rdrop * r
            parts["rdrop"] = r.detach()
        return with_contrast(parts, contrast, out.h, out.labels)

    return loss
