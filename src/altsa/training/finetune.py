"""Teacher stage, end to end: fine-tune the text encoder with its head (spec 2, stage 1).

Used when the text encoder config is not frozen (``freeze: false`` or ``unfreeze_last``).
Items are utterances; each reads the input its encoder builds (``context`` mode: the
speaker-tagged conversation so far ending with the prompt). After the stage, the tuned
encoder is saved into the run (``RUN/text-encoder/``) and its vectors are cached like any
frozen encoder's, so the later stages train on features as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from altsa.data.schema import Corpus, LabelSet
from altsa.losses import IGNORE, TextOut, teacher_objective
from altsa.model.branches import ModalityBranch
from altsa.evaluation.metrics import Selection
from altsa.training.predict import WEIGHTED_F1, dev_score, text_outputs


class TextTeacher(nn.Module):
    """Trainable text encoder + the model's text branch: tokens -> (h_t, z_t)."""

    def __init__(self, encoder, branch: ModalityBranch):
        super().__init__()
        self.encoder = encoder.module  # registered: its parameters train and checkpoint
        self.branch = branch  # the ALTSA model's own text branch (shared, trained in place)
        self._text_encoder = encoder  # pooling and tokenizer logic live there

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None):
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        vectors = self._text_encoder.forward(batch)  # [n, Dt]
        present = torch.ones(vectors.shape[0], dtype=torch.bool, device=vectors.device)
        h, z = self.branch(vectors, present)
        return {"h_t": h, "z_t": z}


@dataclass
class TextItems:
    """One split's utterances as text inputs and label indices."""

    texts: list[str]
    labels: torch.Tensor  # [n] long, IGNORE where unlabelled

    @classmethod
    def build(cls, corpus: Corpus, encoder, label_set: LabelSet, task: str) -> TextItems:
        texts, labels = [], []
        for conv in corpus.conversations:
            texts.extend(encoder.build_inputs(conv))
            for u in conv:
                lab = u.labels.get(task)
                labels.append(label_set.index(lab) if lab else IGNORE)
        return cls(texts, torch.tensor(labels, dtype=torch.long))

    def labelled(self) -> TextItems:
        keep = (self.labels != IGNORE).nonzero().flatten().tolist()
        return TextItems([self.texts[i] for i in keep], self.labels[keep])


def make_batch(encoder, items: TextItems, idx: list[int]) -> dict[str, torch.Tensor]:
    tokens = encoder.tokenize([items.texts[i] for i in idx])
    batch = {k: v.cpu() for k, v in tokens.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    batch["labels"] = items.labels[idx]
    return batch


def teacher_loss(weight, label_smoothing, contrast=None, rdrop: float = 0.0):
    """The teacher objective (``altsa.losses.teacher_objective``) over tokenised utterances: CE
    of the text head (+ two passes with ``rdrop``, + ``L_con`` of its vectors with ``contrast``)."""

    def forward(module, batch) -> TextOut:
        out = module(**{k: v for k, v in batch.items() if k != "labels"})
        return TextOut(out["z_t"], out["h_t"], batch["labels"])

    return teacher_objective(forward, weight=weight, label_smoothing=label_smoothing, contrast=contrast, rdrop=rdrop)


def outputs(teacher: TextTeacher, encoder, items: TextItems, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(h [n, d], z [n, C]) of the teacher in eval mode for every item."""
    device = next(teacher.parameters()).device

    def forward(idx: list[int]) -> dict[str, torch.Tensor]:
        return teacher(**{k: v.to(device) for k, v in make_batch(encoder, items, idx).items() if k != "labels"})

    return text_outputs(teacher, [len(t) for t in items.texts], batch_size, forward)


def score_teacher(teacher: TextTeacher, encoder, items: TextItems, batch_size: int,
                  metric: Selection = WEIGHTED_F1) -> float:
    """The dev score (``metric``) of the teacher head."""
    return dev_score(items.labels, outputs(teacher, encoder, items, batch_size)[1], metric=metric)
