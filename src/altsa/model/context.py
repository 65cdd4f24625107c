"""Conversation models over the fused vectors ``m_1 … m_N`` (spec 3, "Conversation model").

Registry ``CONTEXTS``: ``bilstm`` (the spec's default; a one-directional LSTM when
``causal``), ``lstm`` (always one-directional), ``none`` (the ablation "conversation model
off"). Every module has ``out_dim``, ``forward(x, mask)`` over whole dialogues and, when it
only looks back, ``init_state(batch)`` / ``step(x, state)`` for one turn at a time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from altsa.errors import ModelError
from altsa.model.config import ModelConfig
from altsa.registry import Registry

CONTEXTS: Registry = Registry("context model")  # name -> builder(ModelConfig) -> module


class LSTMContext(nn.Module):
    """(Bi)LSTM over a dialogue. Sequences are packed, so padding never reaches real turns
    (a backward LSTM would otherwise read the padding first)."""

    def __init__(self, d: int, hidden: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.bidirectional = bidirectional
        self.lstm = nn.LSTM(
            d,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.out_dim = hidden * (2 if bidirectional else 1)
        self.causal = not bidirectional

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, N, d], mask [B, N] (a prefix mask) -> [B, N, out_dim], zeros on padding."""
        lengths = mask.sum(1).clamp(min=1).cpu()  # empty dialogues run one (masked) step
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # [B, N, out_dim]
        return out * mask.unsqueeze(-1).to(out.dtype)

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> Any:
        if not self.causal:
            raise ModelError("a bidirectional LSTM cannot run turn by turn; set model.causal=true")
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """x [B, d] -> ([B, out_dim], new (h, c)): one LSTM step, O(1) per turn."""
        out, state = self.lstm(x.unsqueeze(1), state)  # [B, 1, out_dim]
        return out[:, 0], state


class NoContext(nn.Module):
    """Each utterance on its own (the "conversation model off" ablation)."""

    causal = True

    def __init__(self, d: int):
        super().__init__()
        self.out_dim = d

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x * mask.unsqueeze(-1).to(x.dtype)

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> Any:
        return None

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        return x, state


@CONTEXTS.register("bilstm")
def _bilstm(cfg: ModelConfig) -> nn.Module:
    if cfg.causal:  # spec 3: "a one-directional LSTM in causal mode"
        return LSTMContext(cfg.d, cfg.context_hidden or cfg.d, cfg.context_layers, False, cfg.dropout)
    return LSTMContext(cfg.d, cfg.context_hidden or cfg.d // 2, cfg.context_layers, True, cfg.dropout)


@CONTEXTS.register("lstm")
def _lstm(cfg: ModelConfig) -> nn.Module:
    return LSTMContext(cfg.d, cfg.context_hidden or cfg.d, cfg.context_layers, False, cfg.dropout)


@CONTEXTS.register("none")
def _none(cfg: ModelConfig) -> nn.Module:
    return NoContext(cfg.d)
