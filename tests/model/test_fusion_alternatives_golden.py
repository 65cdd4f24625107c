"""Golden values for the two fusion alternatives of the ablations (spec 3: TelME's
attention-based shifting fusion, plain concatenation), computed here in numpy per utterance
from the modules' own weights, with absent modalities (zero vectors, as the model passes them)."""

import math

import numpy as np
import pytest
import torch

from altsa.model import ModelConfig
from altsa.model.fusion import ConcatFusion, TelmeShiftFusion

D = 4
PRESENT = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 0, 1]], dtype=bool)  # one utterance each


def _inputs(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, len(PRESENT), D)) * PRESENT.T[..., None]  # absent -> zeros
    return x[0], x[1], x[2]


def _np(linear):
    return linear.weight.detach().double().numpy(), linear.bias.detach().double().numpy()


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _shares(shares, present):
    shares = shares * present
    return shares / shares.sum() if shares.sum() > 1e-12 else present / max(present.sum(), 1)


def _layernorm(x, g, b, eps=1e-5):
    return (x - x.mean()) / np.sqrt(x.var() + eps) * g + b


def np_telme(f: TelmeShiftFusion, t, a, v, present, beta):
    (wq, bq), (wk, bk), (wv, bv) = _np(f.w_q), _np(f.w_k), _np(f.w_v)
    (wg, bg), (ws, bs) = _np(f.gate), _np(f.shift)
    g_ln, b_ln = f.norm.weight.detach().double().numpy(), f.norm.bias.detach().double().numpy()
    heads, dh = f.heads, D // f.heads
    ms, ws_out = [], []
    for i in range(len(t)):
        toks = [x for x, ok in zip((a[i], v[i]), present[i, 1:]) if ok]
        which = [j for j, ok in enumerate(present[i, 1:]) if ok]
        q, h_av, split = wq @ t[i] + bq, np.zeros(D), np.zeros(2)
        for h in range(heads):
            sl = slice(h * dh, (h + 1) * dh)
            if toks:
                ks = [(wk @ x + bk)[sl] for x in toks]
                vs = [(wv @ x + bv)[sl] for x in toks]
                att = _softmax(np.array([q[sl] @ k / math.sqrt(dh) for k in ks]))
                h_av[sl] = sum(w * val for w, val in zip(att, vs))
                split[which] += att / heads
        gate = 1 / (1 + np.exp(-(wg @ np.concatenate([t[i], h_av]) + bg)))
        shift = gate * (ws @ h_av + bs) * (1.0 if toks else 0.0)
        alpha = min(beta * np.linalg.norm(t[i]) / (np.linalg.norm(shift) + 1e-6), 1.0) if present[i, 0] else 1.0
        ms.append(_layernorm(t[i] + alpha * shift, g_ln, b_ln))
        ws_out.append(_shares(np.concatenate([[np.linalg.norm(t[i])], alpha * np.linalg.norm(shift) * split]),
                              present[i]))
    return np.array(ms), np.array(ws_out)


@pytest.mark.parametrize("heads, beta", [(1, 1.0), (2, 0.3)])
def test_telme_shift_fusion_golden(heads, beta):
    torch.manual_seed(heads)
    f = TelmeShiftFusion(ModelConfig(d=D, heads=heads, telme_beta=beta, dropout=0.0)).double().eval()
    with torch.no_grad():  # a LayerNorm that is not the identity, so its parameters count
        f.norm.weight.uniform_(0.5, 1.5)
        f.norm.bias.uniform_(-0.5, 0.5)
    t, a, v = _inputs(heads)
    args = [torch.tensor(x)[None] for x in (t, a, v)]
    m, w = f(*args, torch.tensor(PRESENT)[None], torch.ones(1, len(PRESENT), dtype=torch.bool))
    want_m, want_w = np_telme(f, t, a, v, PRESENT, beta)
    np.testing.assert_allclose(m[0].detach().numpy(), want_m, atol=1e-9)
    np.testing.assert_allclose(w[0].detach().numpy(), want_w, atol=1e-9)
    assert (w[0].numpy()[~PRESENT] == 0).all()


def test_concat_fusion_golden():
    torch.manual_seed(0)
    f = ConcatFusion(ModelConfig(d=D, dropout=0.0)).double().eval()
    with torch.no_grad():
        f.bias.uniform_(-1, 1)
    t, a, v = _inputs(7)
    m, w = f(*[torch.tensor(x)[None] for x in (t, a, v)], torch.tensor(PRESENT)[None],
             torch.ones(1, len(PRESENT), dtype=torch.bool))
    mats = [p.weight.detach().double().numpy() for p in f.parts]
    bias = f.bias.detach().double().numpy()
    for i in range(len(PRESENT)):
        contrib = [mat @ x[i] for mat, x in zip(mats, (t, a, v))]
        np.testing.assert_allclose(m[0, i].detach().numpy(), sum(contrib) + bias, atol=1e-12)
        want = _shares(np.array([np.linalg.norm(c) for c in contrib]), PRESENT[i])
        np.testing.assert_allclose(w[0, i].detach().numpy(), want, atol=1e-12)
