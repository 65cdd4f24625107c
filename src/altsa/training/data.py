"""Feature splits: one corpus split as per-dialogue tensors, batched by dialogue.

Built from a corpus plus one feature table per modality (``altsa.features``), aligned by
utterance key. Batches pad dialogues to the longest one; ``mask`` marks real utterances.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from altsa.data.schema import Corpus, LabelSet
from altsa.errors import DataError
from altsa.losses import IGNORE
from altsa.model import MODALITIES


@dataclass
class Dialogue:
    dialogue_id: str
    keys: list[str]  # utterance keys "dialogue/position"
    inputs: dict[str, torch.Tensor]  # modality -> [n, D]
    present: torch.Tensor  # [n, 3] bool (text, audio, video)
    labels: torch.Tensor  # [n] long, IGNORE where unlabelled

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class FeatureSplit:
    name: str
    dialogues: list[Dialogue]
    dims: dict[str, int]  # modality -> vector size
    absent: dict[str, dict[str, int]] = field(default_factory=dict)  # modality -> reason -> count

    @property
    def num_utterances(self) -> int:
        return sum(len(d) for d in self.dialogues)

    def label_counts(self, num_classes: int) -> list[int]:
        counts = torch.zeros(num_classes, dtype=torch.long)
        for d in self.dialogues:
            lab = d.labels[d.labels != IGNORE]
            counts += torch.bincount(lab, minlength=num_classes)
        return counts.tolist()

    def present_counts(self) -> dict[str, int]:
        total = torch.zeros(3, dtype=torch.long)
        for d in self.dialogues:
            total += d.present.sum(0)
        return {m: int(total[k]) for k, m in enumerate(MODALITIES) if m in self.dims}


def build_split(name: str, corpus: Corpus, tables: dict, label_set: LabelSet | None, task: str) -> FeatureSplit:
    """Corpus + {modality: FeatureTable (keys, vectors [n, D], present [n], reasons)} -> split.

    Tables must hold every utterance of the corpus (``load_features`` aligns them); labels not
    in ``label_set`` are a ``DataError`` naming the utterance, never a silent skip.
    """
    rows: dict[str, dict[str, int]] = {}
    absent: dict[str, dict[str, int]] = {}
    for m, table in tables.items():
        rows[m] = {k: i for i, k in enumerate(table.keys)}
        counts: dict[str, int] = {}
        for reason, ok in zip(table.reasons, table.present.tolist()):
            if not ok:
                counts[reason or "absent"] = counts.get(reason or "absent", 0) + 1
        absent[m] = counts
    dims = {m: int(t.vectors.shape[1]) for m, t in tables.items()}
    dialogues = []
    for conv in corpus.conversations:
        keys = [u.key for u in conv]
        inputs, present = {}, torch.zeros(len(keys), 3, dtype=torch.bool)
        for m, table in tables.items():
            try:
                idx = torch.tensor([rows[m][k] for k in keys], dtype=torch.long)
            except KeyError as err:
                raise DataError(f"{name}: no {m} features for utterance {err.args[0]} (re-run altsa extract)") from None
            inputs[m] = table.vectors[idx].float()  # [n, D]
            present[:, MODALITIES.index(m)] = table.present[idx].bool()
        labels = torch.full((len(keys),), IGNORE, dtype=torch.long)
        if label_set is not None:
            for i, u in enumerate(conv):
                lab = u.labels.get(task)
                if lab:
                    labels[i] = label_set.index(lab)
        dialogues.append(Dialogue(conv.dialogue_id, keys, inputs, present, labels))
    return FeatureSplit(name, dialogues, dims, absent)


def collate(dialogues: Sequence[Dialogue], dims: dict[str, int]) -> dict[str, torch.Tensor]:
    """Pad a list of dialogues: inputs [B, N, D], present [B, N, 3], mask [B, N], labels [B, N]."""
    b, n = len(dialogues), max(len(d) for d in dialogues)
    batch: dict[str, torch.Tensor] = {}
    for m, dim in dims.items():
        x = torch.zeros(b, n, dim)
        for i, d in enumerate(dialogues):
            x[i, : len(d)] = d.inputs[m]
        batch[m] = x  # [B, N, D]
    present = torch.zeros(b, n, 3, dtype=torch.bool)
    mask = torch.zeros(b, n, dtype=torch.bool)
    labels = torch.full((b, n), IGNORE, dtype=torch.long)
    for i, d in enumerate(dialogues):
        present[i, : len(d)] = d.present
        mask[i, : len(d)] = True
        labels[i, : len(d)] = d.labels
    batch.update(present=present, mask=mask, labels=labels)
    return batch


def epoch_batches(num: int, batch_size: int, seed: int, epoch: int, *, shuffle: bool = True) -> list[list[int]]:
    """Batches of indices for one epoch, a pure function of (seed, epoch): a resumed run draws
    exactly the batches the uninterrupted one would have."""
    if shuffle:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(num, generator=g).tolist()
    else:
        order = list(range(num))
    return [order[i : i + batch_size] for i in range(0, num, batch_size)]


def shard(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This process's share of the batches (equal counts on every process, so DDP never waits)."""
    if world <= 1:
        return batches
    usable = len(batches) - len(batches) % world
    return batches[rank:usable:world]


def iterate(split: FeatureSplit, batch_size: int) -> Iterator[tuple[list[Dialogue], dict[str, torch.Tensor]]]:
    """Dialogues in order, in padded batches (evaluation)."""
    for i in range(0, len(split.dialogues), batch_size):
        chunk = split.dialogues[i : i + batch_size]
        yield chunk, collate(chunk, split.dims)
