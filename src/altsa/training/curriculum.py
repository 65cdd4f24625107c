"""SPCL's curriculum (Song et al. 2022, "Supervised Prototypical Contrastive Learning for
Emotion Recognition in Conversation", section 3.4) for the teacher stage (``train.curriculum:
spcl``): each epoch trains on half the items, drawn from the easy end early and from the hard
end late.

At the start of every epoch the text branch (eval mode) embeds every training utterance; the
class centres are the class means of those vectors h. An utterance's difficulty is its distance
to its own class's centre relative to its distances to every centre,

    DIF(i) = d(h_i, c_{y_i}) / sum_k d(h_i, c_k),    d(a, b) = (1 - cos(a, b)) / 2 + 1e-8,

so an utterance near its class and far from the rest is easy, one that sits with another class
is hard. Items are ranked by difficulty (rank 0 the easiest of N); in epoch e of E the item of
rank r is trained with probability

    p_r = s + (t - s) * r / (N - 1),    s = 1 - e / E,  t = e / E

(epoch 0: the easiest surely, the hardest never; the last epoch: mostly the hard ones). Every
epoch's probabilities sum to N / 2. SPCL keeps each item by its own coin; here they are drawn
systematically along the ranking (one uniform offset), which keeps each item's probability
p_r exactly and makes every epoch exactly N / 2 items, so the learning-rate schedule knows its
step count in advance. Items of a dialogue route (batches of dialogues) take the mean
difficulty of their utterances.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from altsa.errors import ConfigError
from altsa.losses import IGNORE

KINDS = ("none", "spcl")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"train.curriculum must be one of {', '.join(KINDS)}, got {kind!r}")


def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SPCL's distance: (1 - cosine similarity) / 2, plus 1e-8 so that no ratio divides by 0."""
    return (1.0 - torch.nn.functional.cosine_similarity(a, b, dim=-1)) / 2.0 + 1e-8


def difficulty(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """DIF of every labelled row of ``h`` [n, d] (NaN for unlabelled rows); the centres are the
    class means over the labelled rows, and a class with no row has no centre."""
    h = h.float()
    out = torch.full((h.shape[0],), float("nan"))
    sel = labels != IGNORE
    if not sel.any():
        return out
    y, x = labels[sel], h[sel]
    classes = [c for c in range(num_classes) if (y == c).any()]
    centres = torch.stack([x[y == c].mean(0) for c in classes])  # [K, d]
    d = distance(x[:, None, :], centres[None, :, :])  # [n, K]
    own = d[torch.arange(len(y)), torch.tensor([classes.index(int(c)) for c in y])]
    out[sel] = own / d.sum(1)
    return out


def item_difficulty(rows: torch.Tensor, item_of_row: torch.Tensor, num_items: int) -> torch.Tensor:
    """Mean difficulty per item over its rows (NaN rows ignored); an item with none ranks as
    the middle of the others (the median), so it is neither pushed first nor held back."""
    ok = ~torch.isnan(rows)
    total = torch.zeros(num_items).index_add_(0, item_of_row[ok], rows[ok])
    count = torch.zeros(num_items).index_add_(0, item_of_row[ok], torch.ones(int(ok.sum())))
    out = total / count.clamp(min=1)
    empty = count == 0
    if empty.any():
        out[empty] = out[~empty].median() if (~empty).any() else 0.0
    return out


def probabilities(num_items: int, epoch: int, epochs: int) -> torch.Tensor:
    """p_r for ranks 0..N-1 (easiest first) in ``epoch`` (0-based) of ``epochs``."""
    s, t = 1.0 - epoch / epochs, epoch / epochs
    if num_items == 1:
        return torch.tensor([0.5])
    r = torch.arange(num_items, dtype=torch.float64)
    return (s + (t - s) * r / (num_items - 1)).float()


def systematic(p: torch.Tensor, generator: torch.Generator) -> list[int]:
    """Positions i kept with probability exactly ``p[i]`` (each in [0, 1]): one uniform offset
    u, and i is kept when the running sum of p passes a point u + j within it. The count is
    floor or ceil of sum(p)."""
    u = float(torch.rand((), generator=generator))
    cum = torch.cumsum(p.double(), 0)
    before = torch.cat([torch.zeros(1, dtype=torch.float64), cum[:-1]])
    return (torch.floor(cum - u) > torch.floor(before - u)).nonzero().flatten().tolist()


def per_epoch(num_items: int) -> int:
    """Items per epoch under the curriculum (upper bound, for the step count)."""
    return math.ceil(num_items / 2)


@dataclass
class Curriculum:
    """What ``run_stage`` needs: ``select(module, epoch)`` -> the items to train this epoch.

    ``embed(module)`` gives (h [n, d], labels [n], item of each row [n]) for every training
    row, in eval mode."""

    embed: Callable[[torch.nn.Module], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    num_items: int
    num_classes: int
    epochs: int

    def select(self, module: torch.nn.Module, epoch: int, seed: int) -> list[int]:
        with torch.no_grad():
            h, labels, item = self.embed(module)
        dif = item_difficulty(difficulty(h, labels, self.num_classes), item, self.num_items)
        order = torch.argsort(dif, stable=True)  # rank 0: the easiest
        g = torch.Generator().manual_seed(seed * 1_000_003 + 7919 * (epoch + 1))
        kept = systematic(probabilities(self.num_items, epoch, self.epochs), g)
        return sorted(order[kept].tolist())
