"""Golden values for the distillation losses (spec 2, "Students"), computed here in numpy from
the formulas of ALTSA.md on small tensors, never by re-running the code under test.

Temperatures are not 1 and beta != gamma, so each of these wrong formulas fails a test: no
tau^2, tau missing inside the softmax, inter and intra axes swapped, S S^T in place of T S^T,
the KL reversed, tau_f ignored."""

import numpy as np
import pytest
import torch

from altsa.losses import DistillWeights, relation_loss, similarity_loss, student_loss

# 5 utterances, 4 classes; values typed out so the golden numbers below do not depend on any RNG
Z_S = np.array(
    [[1.2, -0.3, 0.8, 2.0], [0.1, 0.4, -1.5, 0.9], [-2.0, 1.1, 0.3, 0.0], [0.7, 0.7, -0.2, 1.6], [3.0, -1.0, 0.5, -0.4]]
)
Z_T = np.array(
    [[2.5, -1.0, 0.2, 1.1], [-0.6, 1.9, -0.8, 0.3], [-1.2, 0.4, 1.7, -0.5], [1.4, 0.1, -1.1, 2.2], [0.9, -0.2, 1.3, 0.6]]
)
H_S = np.array([[0.5, -1.2, 0.3], [1.1, 0.2, -0.7], [-0.4, 0.9, 1.5], [0.8, 0.8, -0.1], [-1.3, 0.1, 0.6]])
H_T = np.array([[1.0, -0.5, 0.2], [0.3, 1.4, -0.9], [-0.8, 0.6, 1.1], [1.2, -0.3, 0.4], [-0.2, -1.1, 0.7]])


def np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def np_relation(z_s, z_t, tau, beta, gamma) -> float:
    """ALTSA.md: p = softmax(z / tau); inter over each sample's class profile (rows), intra over
    each class's batch profile (columns); L_rel = tau^2 (beta inter + gamma intra)."""
    p_s, p_t = np_softmax(z_s / tau), np_softmax(z_t / tau)
    inter = 1.0 - np.mean([np_pearson(p_s[i], p_t[i]) for i in range(p_s.shape[0])])
    intra = 1.0 - np.mean([np_pearson(p_s[:, c], p_t[:, c]) for c in range(p_s.shape[1])])
    return tau**2 * (beta * inter + gamma * intra)


def np_similarity(h_s, h_t, tau_f) -> float:
    """ALTSA.md: L2-normalise; P = softmax(T T^T / tau_f) row-wise; Q = log_softmax(T S^T / tau_f);
    L_sim = KL(P || Q) = sum_ij P_ij (log P_ij - Q_ij), averaged over the n rows."""
    t = h_t / np.linalg.norm(h_t, axis=1, keepdims=True)
    s = h_s / np.linalg.norm(h_s, axis=1, keepdims=True)
    p = np_softmax(t @ t.T / tau_f)
    log_q = np.log(np_softmax(t @ s.T / tau_f))
    return float((p * (np.log(p) - log_q)).sum() / t.shape[0])


def t64(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("tau,beta,gamma", [(2.0, 0.7, 1.3), (4.0, 1.0, 0.0), (4.0, 0.0, 1.0), (0.5, 1.5, 0.25)])
def test_relation_loss_golden(tau, beta, gamma):
    expected = np_relation(Z_S, Z_T, tau, beta, gamma)
    got = relation_loss(t64(Z_S), t64(Z_T), tau=tau, beta=beta, gamma=gamma).item()
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-9)  # 1e-5: the eps in pearson


def test_relation_loss_golden_value_typed_out():
    """One value written down, so a wrong reference and a matching wrong loss cannot agree."""
    assert np_relation(Z_S, Z_T, 2.0, 0.7, 1.3) == pytest.approx(4.0059245, abs=1e-6)
    assert relation_loss(t64(Z_S), t64(Z_T), tau=2.0, beta=0.7, gamma=1.3).item() == pytest.approx(4.0059245, abs=1e-6)


def test_relation_inter_and_intra_read_different_axes():
    """inter (beta) reads rows, intra (gamma) columns: swapping them changes the value here."""
    inter = relation_loss(t64(Z_S), t64(Z_T), tau=2.0, beta=1.0, gamma=0.0).item()
    intra = relation_loss(t64(Z_S), t64(Z_T), tau=2.0, beta=0.0, gamma=1.0).item()
    assert inter == pytest.approx(np_relation(Z_S, Z_T, 2.0, 1.0, 0.0), rel=1e-6)
    assert intra == pytest.approx(np_relation(Z_S, Z_T, 2.0, 0.0, 1.0), rel=1e-6)
    assert abs(inter - intra) > 0.1


@pytest.mark.parametrize("tau_f", [0.5, 1.0, 2.0])
def test_similarity_loss_golden(tau_f):
    expected = np_similarity(H_S, H_T, tau_f)
    got = similarity_loss(t64(H_S), t64(H_T), tau_f=tau_f).item()
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-9)  # 1e-5: the eps in pearson


def test_similarity_loss_golden_value_typed_out():
    assert np_similarity(H_S, H_T, 0.5) == pytest.approx(0.4185451, abs=1e-6)
    assert similarity_loss(t64(H_S), t64(H_T), tau_f=0.5).item() == pytest.approx(0.4185451, abs=1e-6)


def test_similarity_is_not_symmetric_in_student_and_teacher():
    """KL(P || Q) with P from the teacher alone: swapping roles gives another value."""
    a = similarity_loss(t64(H_S), t64(H_T), tau_f=0.5).item()
    b = similarity_loss(t64(H_T), t64(H_S), tau_f=0.5).item()
    assert a == pytest.approx(np_similarity(H_S, H_T, 0.5), rel=1e-6)
    assert abs(a - b) > 1e-3


def test_student_loss_golden():
    """L_s = CE + lambda_logit L_rel + lambda_feat L_sim with the spec's parts, in numpy."""
    y = np.array([3, 1, 2, 3, 0])
    log_p = np.log(np_softmax(Z_S))
    ce = -np.mean(log_p[np.arange(5), y])
    hp = DistillWeights(tau=3.0, beta=0.8, gamma=1.2, tau_f=0.7, lambda_logit=0.5, lambda_feat=2.0)
    expected = ce + 0.5 * np_relation(Z_S, Z_T, 3.0, 0.8, 1.2) + 2.0 * np_similarity(H_S, H_T, 0.7)
    parts = student_loss(t64(Z_S), t64(H_S), t64(Z_T), t64(H_T), torch.tensor(y), hp)
    assert parts["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert parts["loss"].item() == pytest.approx(expected, rel=1e-6)


def test_student_loss_with_an_ensemble_of_teachers_golden():
    """K teachers (``train.distill_from`` a list): h_t [n, K, d]; L_sim is the mean of each
    teacher's L_sim (never L_sim of the averaged vectors); z_t is one target, used as given."""
    y = np.array([3, 1, 2, 3, 0])
    h_t2 = np.array([[-0.7, 0.2, 1.3], [0.9, -0.4, 0.5], [0.1, 1.6, -0.3], [-1.0, -0.6, 0.8], [0.4, 0.3, -1.2]])
    log_p = np.log(np_softmax(Z_S))
    ce = -np.mean(log_p[np.arange(5), y])
    hp = DistillWeights(tau=3.0, beta=0.8, gamma=1.2, tau_f=0.7, lambda_logit=0.5, lambda_feat=2.0)
    sims = [np_similarity(H_S, H_T, 0.7), np_similarity(H_S, h_t2, 0.7)]
    expected = ce + 0.5 * np_relation(Z_S, Z_T, 3.0, 0.8, 1.2) + 2.0 * (sims[0] + sims[1]) / 2
    assert abs(np.mean(sims) - np_similarity(H_S, (H_T + h_t2) / 2, 0.7)) > 1e-3  # the wrong formula differs
    parts = student_loss(t64(Z_S), t64(H_S), t64(Z_T), t64(np.stack([H_T, h_t2], axis=1)), torch.tensor(y), hp)
    assert parts["kd_feature"].item() == pytest.approx(np.mean(sims), rel=1e-6)
    assert parts["loss"].item() == pytest.approx(expected, rel=1e-6)


def test_fusion_distillation_loss_golden():
    """The fusion stage's objective with a teacher (train.distill_fusion): CE over labelled
    turns + lambda_logit L_rel over every real turn of the padded [B, N, C] batch, in numpy.
    Dialogue 0 holds turns 0-2, dialogue 1 turns 3-4 (one padded slot); turn 1 is unlabelled."""
    from types import SimpleNamespace

    from altsa.training.textdistill import fusion_distill_loss

    c = Z_S.shape[1]
    logits, teacher = np.zeros((2, 3, c)), np.zeros((2, 3, c))
    logits[0], logits[1, :2] = Z_S[:3], Z_S[3:]
    teacher[0], teacher[1, :2] = Z_T[:3], Z_T[3:]
    logits[1, 2], teacher[1, 2] = [9.0, -9.0, 9.0, -9.0], [-9.0, 9.0, -9.0, 9.0]  # padding: must not count
    mask = torch.tensor([[True, True, True], [True, True, False]])
    labels = torch.tensor([[3, -100, 2], [3, 0, -100]])
    weight = np.array([1.0, 2.0, 0.5, 1.5])
    tc = SimpleNamespace(tau=2.0, beta=0.7, gamma=1.3, lambda_logit=0.5, label_smoothing=0.0)

    y, rows = np.array([3, 2, 3, 0]), [0, 2, 3, 4]  # labelled turns
    log_p = np.log(np_softmax(Z_S[rows]))
    w = weight[y]
    ce = -(w * log_p[np.arange(4), y]).sum() / w.sum()  # weighted mean, as torch's cross_entropy
    expected = ce + 0.5 * np_relation(Z_S, Z_T, 2.0, 0.7, 1.3)
    parts = fusion_distill_loss(t64(logits), t64(teacher), labels, mask, tc, weight=t64(weight))
    assert parts["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert parts["kd_logit"].item() == pytest.approx(np_relation(Z_S, Z_T, 2.0, 0.7, 1.3), rel=1e-6)
    assert parts["loss"].item() == pytest.approx(expected, rel=1e-6)
