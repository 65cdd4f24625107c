"""Top blocks over cached lower states give the full encoder's vectors (MPNet with its
relative position bias and query-only last block; RoBERTa), and the cache resumes by shard."""

from __future__ import annotations

import pytest
import torch

from altsa.encoders.base import EncoderConfig
from altsa.encoders.text import HFTextEncoder
from altsa.encoders.topblocks import LowerStates, TopBlocks
from altsa.errors import ConfigError

TEXTS = [
    "Speaker 1: hey, how are you doing? Speaker 2: no way! Now Speaker 1 feels",
    "Speaker 2: okay, fine, whatever you say. Now Speaker 2 feels",
    "ok",
    "Speaker 1: what are you talking about? I was the point person on the transition. Now Speaker 1 feels",
]


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory):
    from altsa.encoders.tiny import save_tiny_mpnet

    return save_tiny_mpnet(tmp_path_factory.mktemp("tiny-mpnet"), layers=3)


def _encoder(model, pooling, padding_side="right"):
    cfg = EncoderConfig(kind="hf-text", model=str(model), pooling=pooling, max_length=64, text_mode="context",
                        options={"speaker_format": "plain", "padding_side": padding_side})
    return HFTextEncoder(cfg)


@pytest.mark.parametrize("pooling", ["prompt", "cls", "mean"])
@pytest.mark.parametrize("k", [1, 2])
def test_mpnet_top_blocks_equal_the_full_forward(tiny_mpnet, tmp_path, pooling, k):
    enc = _encoder(tiny_mpnet, pooling)
    full = enc.encode(TEXTS)  # [4, 32]
    lower = LowerStates(tmp_path, enc, k, TEXTS).build(batch_size=3, log=lambda m: None)
    top = TopBlocks(enc.module, k, enc.pooling, enc._suffix).eval()
    batch = lower.batch([0, 1, 2, 3])
    with torch.no_grad():
        got = top(batch["states"], batch["attention_mask"])
    # float16 storage of the cached states: agreement to ~1e-3 of the vectors' scale
    assert torch.allclose(got, full, atol=3e-3 * full.abs().max().item()), (got - full).abs().max()
    assert len(top.state_dict()) == 16 * (3 - k)  # the top blocks only (no lower block, no embeddings)


def test_roberta_top_blocks_equal_the_full_forward(tiny_roberta, tmp_path):
    enc = _encoder(tiny_roberta, "prompt")
    full = enc.encode(TEXTS)
    lower = LowerStates(tmp_path, enc, 1, TEXTS).build(log=lambda m: None)
    top = TopBlocks(enc.module, 1, enc.pooling, enc._suffix).eval()
    batch = lower.batch([3, 0, 2, 1])
    with torch.no_grad():
        got = top(batch["states"], batch["attention_mask"])
    assert torch.allclose(got, full[[3, 0, 2, 1]], atol=3e-3 * full.abs().max().item())


def test_lower_states_resume_by_shard(tiny_mpnet, tmp_path, monkeypatch):
    import altsa.encoders.topblocks as tb

    monkeypatch.setattr(tb, "SHARD", 2)  # two shards of two texts
    enc = _encoder(tiny_mpnet, "prompt")
    first = LowerStates(tmp_path, enc, 2, TEXTS).build(log=lambda m: None)
    (first.dir / "shard-00001.safetensors").unlink()  # as if killed before the second shard
    import json

    (first.dir / "index.json").write_text(json.dumps({"k": 2, "n": 4, "shards": [0]}))
    stamp = (first.dir / "shard-00000.safetensors").stat().st_mtime_ns
    again = LowerStates(tmp_path, enc, 2, TEXTS).build(log=lambda m: None)
    assert (first.dir / "shard-00000.safetensors").stat().st_mtime_ns == stamp  # not recomputed
    assert torch.equal(again.states, first.states) and torch.equal(again.offsets, first.offsets)
    assert LowerStates(tmp_path, enc, 2, TEXTS[:3]).dir != first.dir  # other texts: another cache


def test_bfloat16_states_are_close_and_cached_apart(tiny_mpnet, tmp_path):
    enc = _encoder(tiny_mpnet, "prompt")
    exact = LowerStates(tmp_path, enc, 2, TEXTS).build(log=lambda m: None)
    fast = LowerStates(tmp_path, enc, 2, TEXTS, autocast="bfloat16").build(log=lambda m: None)
    assert fast.dir != exact.dir
    rel = (fast.states.float() - exact.states.float()).norm() / exact.states.float().norm()
    assert 0 < rel < 0.05
    with pytest.raises(ConfigError, match="autocast"):
        LowerStates(tmp_path, enc, 2, TEXTS, autocast="float8")


def test_unsupported_model_type_is_a_config_error(tiny_mpnet):
    enc = _encoder(tiny_mpnet, "prompt")
    enc.module.config.model_type = "gpt2"
    with pytest.raises(ConfigError, match="supports mpnet"):
        TopBlocks(enc.module, 1, "prompt", enc._suffix)
