"""Fusion of the three latent streams into one vector per utterance (spec 3, "Fusion").

Registry ``FUSIONS``:

- ``altsa``: cross-modal multi-head attention across a conversation's utterances (query
  from text, keys from audio+video, values from text), residual + LayerNorm, then adaptive
  modality weighting ``m_i = w_t c_i + w_a a_i + w_v v_i`` with a softmax gate that gives an
  absent modality weight exactly 0.
- ``telme-shift``: TelME's attention-based modality shifting fusion (Yun et al. 2024, "TelME:
  Teacher-leading Multimodal Fusion Network", sec. 3.3, re-implemented from the paper's
  description): the non-verbal vectors, attended by the text vector, yield a gated shift
  vector added to the text representation, its norm bounded relative to the text vector's.
- ``concat``: a linear layer over ``[t ; a ; v]`` (absent parts zero).

Every fusion returns ``(m [B, N, d], weights [B, N, 3])``: ``weights`` (text, audio, video)
are 0 for absent modalities and sum to 1 over present ones. For ``altsa`` they are the
learnt gate; for the others they are each modality's share of the fused vector's norm,
documented in docs/training.md. All fusions run turn by turn (``init_state``/``step``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from altsa.errors import ConfigError
from altsa.model.config import ModelConfig
from altsa.registry import Registry

FUSIONS: Registry = Registry("fusion")  # name -> builder(ModelConfig) -> module


def masked_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to ``allowed``; rows with nothing allowed are 0.

    Uses the dtype's lowest value instead of -inf so no NaN (and no NaN gradient) can appear;
    multiplying by ``allowed`` makes disallowed entries exactly 0.
    """
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * allowed.to(scores.dtype)


def normalise_shares(shares: torch.Tensor, present: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Non-negative shares [..., 3] -> weights summing to 1 over present modalities, 0 elsewhere."""
    shares = shares * present.to(shares.dtype)
    total = shares.sum(-1, keepdim=True)
    uniform = present.to(shares.dtype) / present.sum(-1, keepdim=True).clamp(min=1).to(shares.dtype)
    return torch.where(total > eps, shares / total.clamp(min=eps), uniform)


class CrossModalAttention(nn.Module):
    """Multi-head attention across the utterances of one conversation (spec 3).

    ``q_i = W_q t_i``, ``k_j = W_k [a_j ; v_j]`` (or ``[t_j ; a_j ; v_j]`` with
    ``attention_keys="tav"``), ``v_j = W_v t_j``. Utterance ``i`` may attend to ``j`` when ``j``
    is a real utterance whose text is present, ``j <= i`` in causal mode, and ``j`` lies within
    ``max_context`` turns. The turn-by-turn ``step`` caches keys and values (at most
    ``max_context`` of them), so a new turn costs one projection plus one attention row.
    """

    def __init__(self, d: int, heads: int, key_dim: int, dropout: float, causal: bool, max_context: int | None):
        super().__init__()
        if d % heads:
            raise ConfigError(f"model.d={d} is not divisible by model.heads={heads}")
        if max_context is not None and max_context < 1:
            raise ConfigError("model.max_context must be at least 1 (or null for no window)")
        self.d, self.heads, self.dh = d, heads, d // heads
        self.causal, self.max_context = causal, max_context
        self.w_q = nn.Linear(d, d)
        self.w_k = nn.Linear(key_dim, d)
        self.w_v = nn.Linear(d, d)
        self.w_o = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.dh).transpose(1, 2)  # [B, H, n, dh]

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """q [B,H,Nq,dh], k/v [B,H,Nk,dh], allowed [B,Nq,Nk] -> [B, Nq, d]."""
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dh)  # [B, H, Nq, Nk]
        attn = self.dropout(masked_softmax(scores, allowed.unsqueeze(1)))
        out = (attn @ v).transpose(1, 2).reshape(q.shape[0], q.shape[2], self.d)  # [B, Nq, d]
        return self.w_o(out)

    def allowed(self, key_ok: torch.Tensor) -> torch.Tensor:
        """key_ok [B, N] -> allowed [B, N(query), N(key)] from validity, causality and window."""
        n = key_ok.shape[1]
        idx = torch.arange(n, device=key_ok.device)
        rel = idx[:, None] - idx[None, :]  # i - j, [N, N]
        ok = torch.ones(n, n, dtype=torch.bool, device=key_ok.device)
        if self.causal:
            ok &= rel >= 0
        if self.max_context is not None:
            ok &= rel.abs() < self.max_context
        return ok.unsqueeze(0) & key_ok.unsqueeze(1)  # [B, N, N]

    def forward(self, t: torch.Tensor, keys_in: torch.Tensor, key_ok: torch.Tensor) -> torch.Tensor:
        """t [B,N,d], keys_in [B,N,key_dim], key_ok [B,N] -> attended text [B,N,d]."""
        q, k, v = self._heads(self.w_q(t)), self._heads(self.w_k(keys_in)), self._heads(self.w_v(t))
        return self._attend(q, k, v, self.allowed(key_ok))

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        empty = torch.zeros(batch, self.heads, 0, self.dh, device=device)
        return {"k": empty, "v": empty.clone(), "ok": torch.zeros(batch, 0, dtype=torch.bool, device=device)}

    def step(
        self, t: torch.Tensor, keys_in: torch.Tensor, key_ok: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One new turn: t [B,d], keys_in [B,key_dim], key_ok [B] -> ([B,d], state with this turn cached)."""
        q = self._heads(self.w_q(t).unsqueeze(1))  # [B, H, 1, dh]
        k = torch.cat([state["k"], self._heads(self.w_k(keys_in).unsqueeze(1))], dim=2)  # [B, H, L+1, dh]
        v = torch.cat([state["v"], self._heads(self.w_v(t).unsqueeze(1))], dim=2)
        ok = torch.cat([state["ok"], key_ok.unsqueeze(1)], dim=1)  # [B, L+1]
        if self.max_context is not None and ok.shape[1] > self.max_context:  # window: drop the oldest
            k, v, ok = k[:, :, -self.max_context :], v[:, :, -self.max_context :], ok[:, -self.max_context :]
        out = self._attend(q, k, v, ok.unsqueeze(1))[:, 0]  # [B, d]
        return out, {"k": k, "v": v, "ok": ok}


class AltsaFusion(nn.Module):
    """Cross-modal attention -> ``c_i``; adaptive modality weighting -> ``m_i`` (spec 3)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d
        if cfg.attention_keys not in ("av", "tav"):
            raise ConfigError(f"unknown model.attention_keys {cfg.attention_keys!r}; choose one of: av, tav")
        self.keys = cfg.attention_keys
        key_dim = 2 * d if self.keys == "av" else 3 * d
        self.attention = CrossModalAttention(d, cfg.heads, key_dim, cfg.dropout, cfg.causal, cfg.max_context)
        self.dropout = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(d)
        if cfg.gate == "linear":
            self.gate = nn.Linear(3 * d, 3)
        elif cfg.gate == "mlp":
            self.gate = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, 3))
        else:
            raise ConfigError(f"unknown model.gate {cfg.gate!r}; choose one of: linear, mlp")

    def _keys_in(self, t: torch.Tensor, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, v] if self.keys == "av" else [t, a, v], dim=-1)  # [..., 2d | 3d]

    def _weigh(self, c, a, v, present) -> tuple[torch.Tensor, torch.Tensor]:
        """Gate over [c ; a ; v] -> weights (absent exactly 0, rest renormalised) and m."""
        w = masked_softmax(self.gate(torch.cat([c, a, v], dim=-1)), present)  # [..., 3]
        m = w[..., 0:1] * c + w[..., 1:2] * a + w[..., 2:3] * v  # [..., d]
        return m, w

    def forward(self, t, a, v, present, mask):
        """t/a/v [B,N,d], present [B,N,3], mask [B,N] -> (m [B,N,d], weights [B,N,3])."""
        key_ok = mask & present[..., 0]  # values are text: attend only where text exists
        c = self.norm(t + self.dropout(self.attention(t, self._keys_in(t, a, v), key_ok)))  # [B, N, d]
        return self._weigh(c, a, v, present)

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> Any:
        return self.attention.init_state(batch, device)

    def step(self, state, t, a, v, present):
        """One turn: t/a/v [B,d], present [B,3] -> (m [B,d], weights [B,3], state)."""
        att, state = self.attention.step(t, self._keys_in(t, a, v), present[:, 0], state)
        c = self.norm(t + self.dropout(att))  # [B, d]
        m, w = self._weigh(c, a, v, present)
        return m, w, state


class StatelessFusion(nn.Module):
    """A fusion that reads one utterance at a time: ``step`` is ``forward`` on one turn."""

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> Any:
        return None

    def step(self, state, t, a, v, present):
        real = torch.ones(t.shape[0], 1, dtype=torch.bool, device=t.device)  # a stepped turn is real
        m, w = self.forward(t[:, None], a[:, None], v[:, None], present[:, None], real)
        return m[:, 0], w[:, 0], state


class TelmeShiftFusion(StatelessFusion):
    """TelME-style shifting fusion: text leads, non-verbal cues shift it.

    Per utterance, the text vector attends over the present non-verbal vectors {a, v}
    (multi-head), giving ``h_av``; a gate ``g = sigmoid(W_g [t ; h_av])`` scales the shift
    ``H = g * W_h h_av``; the fused vector is ``LayerNorm(t + alpha H)`` with
    ``alpha = min(beta |t| / |H|, 1)`` so the shift never outweighs the text. Without text,
    ``alpha = 1``. Weights: text |t| against alpha |H| split by the attention over {a, v}.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d
        if d % cfg.heads:
            raise ConfigError(f"model.d={d} is not divisible by model.heads={cfg.heads}")
        self.heads, self.dh, self.beta = cfg.heads, d // cfg.heads, cfg.telme_beta
        self.w_q, self.w_k, self.w_v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.gate = nn.Linear(2 * d, d)
        self.shift = nn.Linear(d, d)
        self.dropout = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(d)

    def forward(self, t, a, v, present, mask):
        b, n, d = t.shape
        tokens = torch.stack([a, v], dim=2)  # [B, N, 2, d]
        tok_ok = present[..., 1:]  # [B, N, 2]
        q = self.w_q(t).view(b, n, self.heads, 1, self.dh)  # [B, N, H, 1, dh]
        k = self.w_k(tokens).view(b, n, 2, self.heads, self.dh).transpose(2, 3)  # [B, N, H, 2, dh]
        val = self.w_v(tokens).view(b, n, 2, self.heads, self.dh).transpose(2, 3)
        attn = masked_softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh), tok_ok[:, :, None, None, :])
        h_av = (attn @ val).reshape(b, n, d)  # [B, N, d]
        g = torch.sigmoid(self.gate(torch.cat([t, h_av], dim=-1)))
        shift = g * self.shift(h_av) * tok_ok.any(-1, keepdim=True).to(t.dtype)  # [B, N, d]
        t_norm, s_norm = t.norm(dim=-1, keepdim=True), shift.norm(dim=-1, keepdim=True)
        alpha = torch.clamp(self.beta * t_norm / (s_norm + 1e-6), max=1.0)
        alpha = torch.where(present[..., 0:1], alpha, torch.ones_like(alpha))
        m = self.norm(t + alpha * self.dropout(shift)) * mask.unsqueeze(-1).to(t.dtype)  # [B, N, d]
        split = attn.mean(dim=2)[:, :, 0]  # [B, N, 2] share of audio / video in the shift
        shares = torch.cat([t_norm, alpha * s_norm * split], dim=-1)  # [B, N, 3]
        return m, normalise_shares(shares.detach(), present)


class ConcatFusion(StatelessFusion):
    """Plain concatenation: ``m = W [t ; a ; v] + b`` (absent parts zero). Weights: each part's
    share ``|W_part x_part|`` of the fused vector."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d
        self.parts = nn.ModuleList([nn.Linear(d, d, bias=False) for _ in range(3)])
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, t, a, v, present, mask):
        contrib = [p(x) for p, x in zip(self.parts, (t, a, v))]  # 3 x [B, N, d]
        m = (sum(contrib) + self.bias) * mask.unsqueeze(-1).to(t.dtype)  # [B, N, d]
        shares = torch.stack([c.norm(dim=-1) for c in contrib], dim=-1)  # [B, N, 3]
        return m, normalise_shares(shares.detach(), present)


FUSIONS.register("altsa")(AltsaFusion)
FUSIONS.register("telme-shift")(TelmeShiftFusion)
FUSIONS.register("concat")(ConcatFusion)
