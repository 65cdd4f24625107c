"""Golden values for the ALTSA fusion (spec 3, "Fusion"), computed here in numpy on small
tensors from the formulas of ALTSA.md, with every weight set explicitly.

Cross-modal attention: ``q_i = W_q t_i``, ``k_j = W_k [a_j ; v_j]``, ``v_j = W_v t_j``,
scaled dot-product per head, output projection, residual to ``t_i`` then LayerNorm: ``c_i``.
Adaptive weighting: ``w = softmax(W_g [c ; a ; v] + b)`` restricted to present modalities,
``m = w_t c + w_a a + w_v v``. Each of these wrong versions fails a test: keys from text,
no residual, a gate that ignores a and v, queries or values from the wrong modality."""

import math

import numpy as np
import pytest
import torch

from altsa.model import ModelConfig
from altsa.model.fusion import AltsaFusion

D = 4


def np_softmax_masked(x: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the last axis on allowed entries only; a row with none allowed is all 0."""
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape[:-1]):
        ok = allowed[idx]
        if ok.any():
            e = np.exp(x[idx][ok] - x[idx][ok].max())
            out[idx][ok] = e / e.sum()
    return out


def np_layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def np_altsa_fusion(p: dict, t, a, v, present, heads: int, causal: bool):
    """t/a/v [N, d], present [N, 3] -> (c [N, d], weights [N, 3], m [N, d]), one conversation."""
    n, d = t.shape
    dh = d // heads
    q = t @ p["wq"].T + p["bq"]  # queries from text
    k = np.concatenate([a, v], axis=1) @ p["wk"].T + p["bk"]  # keys from [a ; v]
    val = t @ p["wv"].T + p["bv"]  # values from text
    allowed = np.tile(present[:, 0][None, :], (n, 1))  # key j usable when its text is there
    if causal:
        allowed &= np.tril(np.ones((n, n), dtype=bool))
    heads_out = []
    for h in range(heads):
        sl = slice(h * dh, (h + 1) * dh)
        scores = q[:, sl] @ k[:, sl].T / math.sqrt(dh)  # [N, N]
        heads_out.append(np_softmax_masked(scores, allowed) @ val[:, sl])
    att = np.concatenate(heads_out, axis=1) @ p["wo"].T + p["bo"]
    c = np_layernorm(t + att, p["ln_g"], p["ln_b"])  # residual to t_i, then LayerNorm
    gate = np.concatenate([c, a, v], axis=1) @ p["wg"].T + p["bg"]  # [N, 3]
    w = np_softmax_masked(gate, present)
    m = w[:, 0:1] * c + w[:, 1:2] * a + w[:, 2:3] * v
    return c, w, m


def params(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = {"wq": (D, D), "bq": (D,), "wk": (D, 2 * D), "bk": (D,), "wv": (D, D), "bv": (D,), "wo": (D, D),
              "bo": (D,), "ln_g": (D,), "ln_b": (D,), "wg": (3, 3 * D), "bg": (3,)}
    out = {k: rng.normal(size=s) for k, s in shapes.items()}
    out["ln_g"] = 1.0 + 0.3 * out["ln_g"]
    return out


def load(fusion: AltsaFusion, p: dict[str, np.ndarray]) -> None:
    att = fusion.attention
    pairs = [(att.w_q.weight, "wq"), (att.w_q.bias, "bq"), (att.w_k.weight, "wk"), (att.w_k.bias, "bk"),
             (att.w_v.weight, "wv"), (att.w_v.bias, "bv"), (att.w_o.weight, "wo"), (att.w_o.bias, "bo"),
             (fusion.norm.weight, "ln_g"), (fusion.norm.bias, "ln_b"), (fusion.gate.weight, "wg"),
             (fusion.gate.bias, "bg")]
    with torch.no_grad():
        for param, key in pairs:
            assert tuple(param.shape) == p[key].shape, key
            param.copy_(torch.tensor(p[key]))


def inputs(seed: int, n: int = 5):
    rng = np.random.default_rng(100 + seed)
    t, a, v = (rng.normal(size=(n, D)) * s for s in (1.0, 1.5, 0.7))
    present = np.ones((n, 3), dtype=bool)
    present[1, 1] = False  # no audio at utterance 1
    present[3, 2] = False  # no video at utterance 3
    present[2, 0] = False  # no text at utterance 2 (a clip without transcript)
    a[~present[:, 1]] = 0.0  # an absent modality reaches the fusion as zeros (the model zeroes it)
    v[~present[:, 2]] = 0.0
    t[~present[:, 0]] = 0.0
    return t, a, v, present


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_altsa_fusion_matches_the_spec(heads, causal, seed):
    fusion = AltsaFusion(ModelConfig(d=D, heads=heads, dropout=0.0, causal=causal)).double().eval()
    p = params(seed)
    load(fusion, p)
    t, a, v, present = inputs(seed)
    _, w_ref, m_ref = np_altsa_fusion(p, t, a, v, present, heads, causal)
    as_t = lambda x: torch.tensor(x)[None]  # noqa: E731  [1, N, ...]
    mask = torch.ones(1, t.shape[0], dtype=torch.bool)
    m, w = fusion(as_t(t), as_t(a), as_t(v), as_t(present), mask)
    np.testing.assert_allclose(w[0].detach().numpy(), w_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m[0].detach().numpy(), m_ref, rtol=1e-9, atol=1e-12)
    assert (w[0].detach().numpy()[~present] == 0).all()


def test_altsa_step_matches_the_spec_turn_by_turn():
    """The O(1) turn-by-turn path computes the same formulas (causal mode)."""
    fusion = AltsaFusion(ModelConfig(d=D, heads=2, dropout=0.0, causal=True)).double().eval()
    p = params(3)
    load(fusion, p)
    t, a, v, present = inputs(3)
    _, w_ref, m_ref = np_altsa_fusion(p, t, a, v, present, 2, True)
    state = fusion.init_state(1)
    state = {k: x.double() if x.is_floating_point() else x for k, x in state.items()}
    for i in range(t.shape[0]):
        row = lambda x: torch.tensor(x[i])[None]  # noqa: E731  [1, ...]
        m, w, state = fusion.step(state, row(t), row(a), row(v), row(present))
        np.testing.assert_allclose(w[0].detach().numpy(), w_ref[i], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m[0].detach().numpy(), m_ref[i], rtol=1e-9, atol=1e-12)


def test_keys_come_from_audio_and_video_not_text():
    """Changing a and v (but not t) moves c through the attention keys; the reference agrees."""
    fusion = AltsaFusion(ModelConfig(d=D, heads=1, dropout=0.0)).double().eval()
    p = params(4)
    load(fusion, p)
    t, a, v, present = inputs(4)
    present[:] = True
    c1, _, _ = np_altsa_fusion(p, t, a, v, present, 1, False)
    c2, _, _ = np_altsa_fusion(p, t, a * 3.0 - 1.0, v, present, 1, False)
    assert np.abs(c1 - c2).max() > 1e-3  # keys from [a ; v]: c depends on a
    with torch.no_grad():
        keys = fusion._keys_in(torch.tensor(t), torch.tensor(a), torch.tensor(v))
    np.testing.assert_array_equal(keys.numpy(), np.concatenate([a, v], axis=1))
