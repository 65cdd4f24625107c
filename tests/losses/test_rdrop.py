"""R-Drop, pinned by values computed here in numpy: the symmetric KL of two passes, and how the
teacher objective combines the two passes' losses with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from altsa.losses import IGNORE, DistillWeights, TextOut, rdrop_loss, teacher_objective

Z1 = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.5, 3.0, 0.0], [0.0, 0.0, 4.0]])
Z2 = np.array([[1.0, 1.5, -0.5], [0.3, -0.2, 0.9], [-1.0, 2.0, 1.0], [0.5, 0.1, 2.5]])
Y = np.array([0, 2, 1, IGNORE])


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def numpy_rdrop(z1, z2):
    p, q = softmax(z1), softmax(z2)
    kl_pq = (p * np.log(p / q)).sum(1)
    kl_qp = (q * np.log(q / p)).sum(1)
    return float(np.mean((kl_pq + kl_qp) / 2))


def numpy_ce(z, y, w=None):
    keep = y != IGNORE
    p = softmax(z[keep])
    yy = y[keep]
    nll = -np.log(p[np.arange(len(yy)), yy])
    wy = np.ones(len(yy)) if w is None else np.asarray(w)[yy]
    return float((wy * nll).sum() / wy.sum())


def test_rdrop_loss_golden():
    got = rdrop_loss(torch.tensor(Z1), torch.tensor(Z2))
    assert float(got) == pytest.approx(numpy_rdrop(Z1, Z2), rel=1e-6)
    assert float(rdrop_loss(torch.tensor(Z2), torch.tensor(Z1))) == pytest.approx(float(got), rel=1e-6)  # symmetric
    assert float(rdrop_loss(torch.tensor(Z1), torch.tensor(Z1))) == pytest.approx(0.0, abs=1e-7)


def test_rdrop_loss_is_not_one_sided():
    # one KL direction alone differs from the symmetric mean for these logits
    p, q = softmax(Z1), softmax(Z2)
    one_way = float(np.mean((p * np.log(p / q)).sum(1)))
    assert abs(one_way - numpy_rdrop(Z1, Z2)) > 1e-3
    assert float(rdrop_loss(torch.tensor(Z1), torch.tensor(Z2))) != pytest.approx(one_way, rel=1e-4)


def test_rdrop_loss_of_no_rows_is_zero_with_a_gradient():
    z = torch.zeros(0, 3, requires_grad=True)
    loss = rdrop_loss(z, z * 2)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert z.grad is not None


def test_rdrop_loss_rejects_mismatched_logits():
    with pytest.raises(ValueError, match="two \\[n, C\\] logits"):
        rdrop_loss(torch.zeros(2, 3), torch.zeros(3, 3))


def _two_passes(first, second, h=None, **taught):
    """A route's forward that gives ``first`` on the first call and ``second`` on the next
    (what two dropout masks do to a real branch)."""
    calls = iter([first, second])
    h = torch.zeros(len(Y), 2) if h is None else h

    def forward(module, batch):
        return TextOut(torch.tensor(next(calls)), h, torch.tensor(Y), **taught)

    return forward


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_teacher_objective_averages_the_two_passes_and_adds_alpha_times_the_kl(alpha):
    w = [1.0, 2.0, 0.5]
    parts = teacher_objective(_two_passes(Z1, Z2), weight=torch.tensor(w, dtype=torch.float64), rdrop=alpha)(None, {})
    ce = (numpy_ce(Z1, Y, w) + numpy_ce(Z2, Y, w)) / 2
    kl = numpy_rdrop(Z1, Z2)  # over every row, labelled or not: the KL needs no label
    assert float(parts["ce"]) == pytest.approx(ce, rel=1e-6)
    assert float(parts["rdrop"]) == pytest.approx(kl, rel=1e-6)
    assert float(parts["loss"]) == pytest.approx(ce + alpha * kl, rel=1e-6)


def test_teacher_objective_without_rdrop_is_one_pass():
    parts = teacher_objective(_two_passes(Z1, Z2))(None, {})
    assert float(parts["loss"]) == pytest.approx(numpy_ce(Z1, Y), rel=1e-6)
    assert "rdrop" not in parts


def test_teacher_objective_with_a_text_teacher_averages_the_student_losses():
    """With ``hp`` each pass's loss is the student objective (CE + L_rel + L_sim): the average
    of the two passes' objectives, plus alpha times the KL."""
    from altsa.losses import student_loss

    rng = np.random.default_rng(0)
    h = torch.tensor(rng.normal(size=(len(Y), 4)))
    z_t, h_t = torch.tensor(rng.normal(size=(len(Y), 3))), torch.tensor(rng.normal(size=(len(Y), 4)))
    hp = DistillWeights(lambda_logit=0.7, lambda_feat=0.3)
    parts = teacher_objective(_two_passes(Z1, Z2, h, z_teacher=z_t, h_teacher=h_t), hp=hp, rdrop=1.5)(None, {})
    passes = [student_loss(torch.tensor(z), h, z_t, h_t, torch.tensor(Y), hp) for z in (Z1, Z2)]
    for k in ("ce", "kd_logit", "kd_feature"):
        assert float(parts[k]) == pytest.approx(float(passes[0][k] + passes[1][k]) / 2, rel=1e-6), k
    want = float(passes[0]["loss"] + passes[1]["loss"]) / 2 + 1.5 * numpy_rdrop(Z1, Z2)
    assert float(parts["loss"]) == pytest.approx(want, rel=1e-6)
