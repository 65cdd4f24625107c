"""Properties of the distillation losses (spec 2, "Students")."""

import math

import pytest
import torch

from altsa.losses import (
    IGNORE,
    DistillWeights,
    class_weights,
    classification_loss,
    pearson,
    relation_loss,
    similarity_loss,
    student_loss,
)


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 7, generator=g) * 3, torch.randn(16, 7, generator=g) * 3


def test_pearson_matches_numpy_corrcoef():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(50, generator=g, dtype=torch.float64), torch.randn(50, generator=g, dtype=torch.float64)
    import numpy as np

    assert pearson(x, y).item() == pytest.approx(np.corrcoef(x.numpy(), y.numpy())[0, 1], abs=1e-6)


def test_relation_zero_when_student_equals_teacher(logits):
    z_t, _ = logits
    assert relation_loss(z_t.clone(), z_t).item() == pytest.approx(0.0, abs=1e-4)


def test_relation_positive_when_different(logits):
    z_s, z_t = logits
    assert relation_loss(z_s, z_t).item() > 0.5


def test_relation_invariant_to_per_row_shifts(logits):
    z_s, z_t = logits
    shift = torch.arange(16.0).unsqueeze(1) * 5.0  # a different constant per row
    base = relation_loss(z_s, z_t)
    assert relation_loss(z_s + shift, z_t).item() == pytest.approx(base.item(), abs=1e-5)
    assert relation_loss(z_s, z_t - shift).item() == pytest.approx(base.item(), abs=1e-5)


def test_relation_scales_with_tau_squared_and_weights(logits):
    z_s, z_t = logits
    inter_only = relation_loss(z_s, z_t, beta=1.0, gamma=0.0)
    intra_only = relation_loss(z_s, z_t, beta=0.0, gamma=1.0)
    both = relation_loss(z_s, z_t, beta=2.0, gamma=3.0)
    assert both.item() == pytest.approx(2 * inter_only.item() + 3 * intra_only.item(), rel=1e-5)


@pytest.mark.parametrize(
    "z_s,z_t",
    [
        (torch.randn(1, 7), torch.randn(1, 7)),  # batch of one: per-class profile is constant
        (torch.ones(5, 7), torch.randn(5, 7)),  # identical rows in the student
        (torch.zeros(4, 7), torch.zeros(4, 7)),  # everything constant
        (torch.zeros(0, 7), torch.zeros(0, 7)),  # empty batch
    ],
)
def test_relation_finite_on_degenerate_batches(z_s, z_t):
    z_s = z_s.clone().requires_grad_(True)
    loss = relation_loss(z_s, z_t)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z_s.grad).all()


def test_similarity_minimal_at_alignment():
    g = torch.Generator().manual_seed(2)
    h_t = torch.randn(12, 32, generator=g)
    aligned = similarity_loss(h_t * 3.0, h_t)  # same direction, other scale: normalised away
    assert aligned.item() == pytest.approx(0.0, abs=1e-6)
    for _ in range(5):
        other = similarity_loss(torch.randn(12, 32, generator=g), h_t)
        assert other.item() > aligned.item() + 1e-3


def test_similarity_gradient_moves_towards_alignment():
    g = torch.Generator().manual_seed(3)
    h_t = torch.randn(8, 16, generator=g)
    h_s = torch.randn(8, 16, generator=g, requires_grad=True)
    opt = torch.optim.Adam([h_s], lr=0.1)
    first = similarity_loss(h_s, h_t).item()
    for _ in range(100):
        opt.zero_grad()
        similarity_loss(h_s, h_t).backward()
        opt.step()
    assert similarity_loss(h_s, h_t).item() < first * 0.1


def test_similarity_finite_on_degenerate_batches():
    for h_s, h_t in [(torch.zeros(3, 8), torch.randn(3, 8)), (torch.randn(1, 8), torch.randn(1, 8))]:
        h_s = h_s.clone().requires_grad_(True)
        loss = similarity_loss(h_s, h_t)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(h_s.grad).all()


def test_student_loss_parts_and_ablation(logits):
    z_s, z_t = logits
    h_s, h_t = torch.randn(16, 8), torch.randn(16, 8)
    y = torch.randint(0, 7, (16,))
    parts = student_loss(z_s, h_s, z_t, h_t, y, DistillWeights(lambda_logit=0.5, lambda_feat=2.0))
    assert set(parts) == {"loss", "ce", "kd_logit", "kd_feature"}
    expected = parts["ce"] + 0.5 * parts["kd_logit"] + 2.0 * parts["kd_feature"]
    assert parts["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    ce_only = student_loss(z_s, h_s, z_t, h_t, y, DistillWeights(distill=False))
    assert ce_only["loss"].item() == pytest.approx(ce_only["ce"].item())
    assert ce_only["kd_logit"].item() == 0.0


def test_teacher_outputs_get_no_gradient(logits):
    z_s, z_t = logits
    z_t = z_t.clone().requires_grad_(True)
    h_t = torch.randn(16, 8, requires_grad=True)
    z_s = z_s.clone().requires_grad_(True)
    student_loss(z_s, torch.randn(16, 8), z_t, h_t, torch.randint(0, 7, (16,)), DistillWeights())["loss"].backward()
    assert z_t.grad is None and h_t.grad is None
    assert z_s.grad is not None


def test_classification_loss_ignores_padding():
    z = torch.randn(2, 3, 4)
    y = torch.tensor([[0, 1, IGNORE], [2, IGNORE, IGNORE]])
    a = classification_loss(z, y)["loss"]
    z2 = z.clone()
    z2[0, 2] = 100.0
    z2[1, 1:] = -50.0
    assert classification_loss(z2, y)["loss"].item() == pytest.approx(a.item())
    assert classification_loss(z, torch.full((2, 3), IGNORE))["loss"].item() == 0.0


def test_class_weights():
    w = class_weights([90, 10], "balanced")
    assert w.tolist() == pytest.approx([100 / 180, 100 / 20])
    assert class_weights([90, 10], "sqrt").tolist() == pytest.approx([math.sqrt(100 / 180), math.sqrt(5)])
    assert class_weights([1, 2], "none") is None
    assert class_weights([1, 2], [0.5, 2.0]).tolist() == [0.5, 2.0]
    with pytest.raises(ValueError):
        class_weights([1, 2], "nope")
