"""Run a model over a feature split: per-utterance logits, branch logits and modality weights;
and the text branch's outputs over utterances in eval mode (``text_outputs``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from altsa.evaluation.metrics import Selection
from altsa.losses import IGNORE
from altsa.model import ALTSAModel
from altsa.training.data import FeatureSplit, iterate

WEIGHTED_F1 = Selection()
MACRO_F1 = Selection("macro_f1")


@dataclass
class SplitPredictions:
    keys: list[str]
    labels: torch.Tensor  # [n] long, IGNORE where unlabelled
    present: torch.Tensor  # [n, 3] bool
    logits: torch.Tensor  # [n, C] fused prediction
    z: dict[str, torch.Tensor]  # "text"/"audio"/"video" -> [n, C] branch logits
    weights: torch.Tensor  # [n, 3]


@torch.no_grad()
def predict_split(model: ALTSAModel, split: FeatureSplit, batch_dialogues: int = 64) -> SplitPredictions:
    """Eval-mode pass over every dialogue; the model's training mode is restored after."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    keys, labels, present, logits, weights = [], [], [], [], []
    z: dict[str, list[torch.Tensor]] = {"text": [], "audio": [], "video": []}
    try:
        for dialogues, batch in iterate(split, batch_dialogues):
            mask = batch["mask"]
            out = model(
                **{m: batch[m].to(device) for m in split.dims},
                present=batch["present"].to(device),
                mask=mask.to(device),
            )
            for d in dialogues:
                keys.extend(d.keys)
            labels.append(batch["labels"][mask])
            present.append(batch["present"][mask])
            logits.append(out["logits"].cpu()[mask])
            weights.append(out["weights"].cpu()[mask])
            for m in z:
                z[m].append(out[f"z_{m[0]}"].cpu()[mask])
    finally:
        model.train(was_training)
    return SplitPredictions(
        keys=keys,
        labels=torch.cat(labels),
        present=torch.cat(present),
        logits=torch.cat(logits),
        z={m: torch.cat(v) for m, v in z.items()},
        weights=torch.cat(weights),
    )


def dev_score(labels: torch.Tensor, logits: torch.Tensor, keep: torch.Tensor | None = None,
              metric: Selection = WEIGHTED_F1) -> float:
    """``metric`` (default weighted F1) in 0-100 over labelled rows (and ``keep``): the figure
    a stage keeps its best epoch by; NaN when there are no rows."""
    sel = labels != IGNORE
    if keep is not None:
        sel &= keep
    if not sel.any():
        return float("nan")
    return metric(labels[sel].numpy(), logits[sel].argmax(-1).numpy(), logits.shape[-1])


@torch.no_grad()
def text_outputs(teacher: torch.nn.Module, lengths: Sequence[int], batch_size: int,
                 forward: Callable[[list[int]], dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(h [n, d], z [n, C]) of a text teacher in eval mode for ``n`` items, in their order:
    ``forward(indices)`` runs a batch of them (``{"h_t", "z_t"}``); batches go longest first
    (``lengths``), so there is little padding. The teacher's mode is restored after."""
    if not lengths:
        return torch.zeros(0, 0), torch.zeros(0, teacher.branch.head.out_features)
    was = teacher.training
    teacher.eval()
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    hs, zs = [], []
    try:
        for start in range(0, len(order), batch_size):
            out = forward(order[start : start + batch_size])
            hs.append(out["h_t"].float().cpu())
            zs.append(out["z_t"].float().cpu())
    finally:
        teacher.train(was)
    back = torch.argsort(torch.tensor(order, dtype=torch.long))  # longest first -> the items' order
    return torch.cat(hs)[back], torch.cat(zs)[back]
