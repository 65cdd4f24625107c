"""The conversation model (spec 3): a BiLSTM over m_1 … m_N, one-directional in causal mode,
checked against an LSTM written in numpy from the module's own weights."""

from __future__ import annotations

import numpy as np
import torch

from altsa.model.config import ModelConfig
from altsa.model.context import CONTEXTS


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_lstm(x, w_ih, w_hh, b_ih, b_hh):
    """x [T, d] -> h [T, hidden]; PyTorch's gate order i, f, g, o."""
    hidden = w_hh.shape[1]
    h, c, out = np.zeros(hidden), np.zeros(hidden), []
    for x_t in x:
        i, f, g, o = np.split(w_ih @ x_t + b_ih + w_hh @ h + b_hh, 4)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.array(out)


def _weights(lstm, suffix=""):
    return [getattr(lstm, f"{name}_l0{suffix}").detach().double().numpy()
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def test_bilstm_reads_both_ways_over_the_real_turns_only():
    torch.manual_seed(0)
    ctx = CONTEXTS.get("bilstm")(ModelConfig(d=6, causal=False, dropout=0.0)).eval()
    x = torch.randn(1, 5, 6)
    mask = torch.tensor([[True, True, True, False, False]])  # 3 real turns, 2 of padding
    out = ctx(x, mask)[0].detach().double().numpy()
    assert out.shape == (5, 6)  # d/2 per direction
    real = x[0, :3].double().numpy()
    forward = numpy_lstm(real, *_weights(ctx.lstm))
    backward = numpy_lstm(real[::-1], *_weights(ctx.lstm, "_reverse"))[::-1]  # starts at the last real turn
    np.testing.assert_allclose(out[:3], np.concatenate([forward, backward], axis=1), atol=1e-5)
    np.testing.assert_array_equal(out[3:], 0.0)


def test_causal_mode_is_one_lstm_that_never_reads_ahead():
    torch.manual_seed(1)
    ctx = CONTEXTS.get("bilstm")(ModelConfig(d=6, causal=True, dropout=0.0)).eval()
    x = torch.randn(1, 4, 6)
    mask = torch.ones(1, 4, dtype=torch.bool)
    out = ctx(x, mask)[0].detach().double().numpy()
    np.testing.assert_allclose(out, numpy_lstm(x[0].double().numpy(), *_weights(ctx.lstm)), atol=1e-5)
    later = x.clone()
    later[0, 3] += 5.0  # a change at the last turn moves nothing before it
    np.testing.assert_allclose(ctx(later, mask)[0, :3].detach().numpy(), out[:3], atol=1e-6)
