"""The supervised prototypical contrastive loss, pinned by values computed here in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from altsa.losses import IGNORE, Contrast, Prototypes, supervised_contrastive_loss

H = np.array([[1.0, 0.2, -0.3], [0.1, 1.0, 0.4], [0.9, -0.1, 0.2], [-0.5, 0.3, 1.0], [0.2, 0.8, 0.1]])
Y = np.array([0, 1, 0, 2, 1])
BANK = np.array([[0.0, 1.0, 0.0], [0.3, 0.1, 1.0], [1.0, 1.0, 1.0]])
BANK_Y = np.array([1, 2, 3])


def numpy_loss(h, y, bank, bank_y, tau):
    v = h / np.linalg.norm(h, axis=1, keepdims=True)
    pts = v if bank is None else np.vstack([v, bank / np.linalg.norm(bank, axis=1, keepdims=True)])
    pty = y if bank is None else np.concatenate([y, bank_y])
    losses = []
    for i in range(len(v)):
        others = [a for a in range(len(pts)) if a != i]
        denom = sum(np.exp(v[i] @ pts[a] / tau) for a in others)
        pos = [p for p in others if pty[p] == y[i]]
        if pos:
            losses.append(-np.mean([np.log(np.exp(v[i] @ pts[p] / tau) / denom) for p in pos]))
    return float(np.mean(losses)) if losses else 0.0


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_supervised_contrastive_loss_golden_with_prototypes(tau):
    got = supervised_contrastive_loss(torch.tensor(H), torch.tensor(Y), bank=torch.tensor(BANK),
                                      bank_labels=torch.tensor(BANK_Y), tau=tau)
    assert float(got) == pytest.approx(numpy_loss(H, Y, BANK, BANK_Y, tau), rel=1e-5)


def test_supervised_contrastive_loss_golden_batch_only():
    # anchor 3 (class 2) has no positive in the batch: it is left out of the mean
    got = supervised_contrastive_loss(torch.tensor(H), torch.tensor(Y), tau=0.3)
    assert float(got) == pytest.approx(numpy_loss(H, Y, None, None, 0.3), rel=1e-5)


def test_no_positive_anywhere_gives_zero_with_a_gradient():
    h = torch.tensor(H[:3], requires_grad=True)
    loss = supervised_contrastive_loss(h, torch.tensor([0, 1, 2]))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert h.grad is not None


def test_pulling_a_class_together_lowers_the_loss():
    y = torch.tensor([0, 0, 1, 1])
    apart = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    together = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    assert supervised_contrastive_loss(together, y) < supervised_contrastive_loss(apart, y)


def test_prototypes_are_the_mean_of_the_last_vectors_of_each_class():
    p = Prototypes(classes=3, dim=2, size=2)
    p.push(torch.tensor([[3.0, 0.0], [0.0, 2.0], [0.0, 5.0], [4.0, 4.0]]), torch.tensor([0, 2, 2, 2]))
    protos, classes = p.current()
    assert classes.tolist() == [0, 2]  # class 1 never seen: no prototype
    # class 2 keeps its last two vectors (normalised): [0, 1] and [1, 1]/sqrt(2)
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(protos.numpy(), [[1.0, 0.0], [(0 + s) / 2, (1 + s) / 2]], rtol=1e-6)


def test_contrast_adds_the_weighted_loss_and_skips_unlabelled_utterances():
    contrast = Contrast(classes=4, dim=3, weight=0.5, tau=0.5)
    contrast.prototypes.push(torch.tensor(BANK), torch.tensor(BANK_Y))
    h = torch.tensor(np.vstack([H, [[9.0, 9.0, 9.0]]]), requires_grad=True)
    labels = torch.tensor([*Y.tolist(), IGNORE])
    ce = torch.tensor(1.25)
    parts = contrast.add({"loss": ce, "ce": ce}, h, labels)
    want = numpy_loss(H, Y, BANK, BANK_Y, 0.5)  # prototypes of one vector each = BANK
    assert float(parts["contrastive"]) == pytest.approx(want, rel=1e-5)
    assert float(parts["loss"].detach()) == pytest.approx(1.25 + 0.5 * want, rel=1e-5)
    # the batch then joined the queues: class 0 now has a prototype
    assert 0 in contrast.prototypes.current()[1].tolist()
