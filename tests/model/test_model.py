"""ALTSA model: shapes, masking, causality, turn-by-turn equivalence, modality weights."""

import pytest
import torch

from altsa.errors import ConfigError, ModelError
from altsa.model import CONTEXTS, FUSIONS, OUTPUT_KEYS, ModelConfig, build_model

DIMS = {"text": 12, "audio": 10, "video": 8}
C = 5


def make(dims=None, **kw):
    cfg = ModelConfig(**{"d": 16, "heads": 2, **kw})
    torch.manual_seed(0)
    return build_model(cfg, dims or DIMS, C).eval()


def inputs(b=3, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "text": torch.randn(b, n, 12, generator=g),
        "audio": torch.randn(b, n, 10, generator=g),
        "video": torch.randn(b, n, 8, generator=g),
        "present": torch.rand(b, n, 3, generator=g) > 0.3,
    }


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("context", CONTEXTS.names())
def test_forward_backward_every_variant(fusion, context):
    options = {"projection": "mlp", "input_norm": "layernorm", "gate": "mlp", "attention_keys": "tav"}
    model = make(fusion=fusion, context=context, **(options if fusion == "altsa" else {})).train()
    x = inputs()
    out = model(**x)
    assert set(out) == set(OUTPUT_KEYS)
    assert out["logits"].shape == (3, 6, C) and out["weights"].shape == (3, 6, 3)
    assert out["h_a"].shape == (3, 6, 16) and out["z_v"].shape == (3, 6, C)
    out["logits"].sum().backward()
    grads = [p.grad for p in model.fusion_parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("context", ["bilstm", "none"])
def test_padding_never_changes_real_utterances(fusion, context):
    model = make(fusion=fusion, context=context)
    x = inputs(b=1, n=4)
    alone = model(**x)
    padded = {k: torch.cat([v, torch.randn_like(v[:, :3]) * 50 if v.dtype != torch.bool else torch.ones_like(v[:, :3])], 1)
              for k, v in x.items()}
    mask = torch.tensor([[True] * 4 + [False] * 3])
    longer = {k: torch.randn(1, 7, v.shape[-1]) if v.dtype != torch.bool else torch.ones(1, 7, 3, dtype=torch.bool)
              for k, v in x.items()}
    batch = {k: torch.cat([padded[k], longer[k]], 0) for k in x}
    out = model(**batch, mask=torch.cat([mask, torch.ones(1, 7, dtype=torch.bool)], 0))
    for key in OUTPUT_KEYS:
        assert torch.allclose(out[key][0, :4], alone[key][0], atol=1e-5), key
    assert (out["weights"][0, 4:] == 0).all()


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("context", ["bilstm", "lstm", "none"])
def test_causal_outputs_ignore_later_utterances(fusion, context):
    model = make(fusion=fusion, context=context, causal=True)
    x = inputs(b=2, n=6)
    out = model(**x)
    changed = {k: v.clone() for k, v in x.items()}
    for k in ("text", "audio", "video"):
        changed[k][:, 3:] = torch.randn_like(changed[k][:, 3:]) * 10
    out2 = model(**changed)
    assert torch.allclose(out["logits"][:, :3], out2["logits"][:, :3], atol=1e-6)
    assert not torch.allclose(out["logits"][:, 3:], out2["logits"][:, 3:])


def test_bidirectional_model_does_read_later_utterances():
    model = make(causal=False)
    x = inputs(b=1, n=5)
    changed = {k: v.clone() for k, v in x.items()}
    changed["text"][:, 4] += 5.0
    assert not torch.allclose(model(**x)["logits"][:, 0], model(**changed)["logits"][:, 0])


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("context", ["bilstm", "lstm", "none"])
@pytest.mark.parametrize("window", [None, 2])
def test_step_equals_forward_in_causal_mode(fusion, context, window):
    model = make(fusion=fusion, context=context, causal=True, max_context=window)
    x = inputs(b=2, n=7)
    out = model(**x)
    state = model.init_state(2)
    for i in range(7):
        step, state = model.step(state, x["text"][:, i], x["audio"][:, i], x["video"][:, i], x["present"][:, i])
        for key in OUTPUT_KEYS:
            assert torch.allclose(step[key], out[key][:, i], atol=1e-5), (key, i)
    assert state["turns"] == 7
    if window:
        assert state["fusion"] is None or state["fusion"]["k"].shape[2] <= window  # bounded cache


def test_attention_window_limits_the_past():
    model = make(causal=True, max_context=2, context="none")
    x = inputs(b=1, n=6)
    changed = {k: v.clone() for k, v in x.items()}
    changed["text"][:, 0] += 10.0  # outside the window of utterance 5
    assert torch.allclose(model(**x)["logits"][:, 5], model(**changed)["logits"][:, 5], atol=1e-6)


def test_bidirectional_cannot_step():
    with pytest.raises(ModelError):
        make(causal=False).init_state(1)


@pytest.mark.parametrize("fusion", FUSIONS.names())
def test_absent_modalities_get_exactly_zero_weight(fusion):
    model = make(fusion=fusion)
    x = inputs(b=4, n=6, seed=3)
    present = x["present"].clone()
    present[0, 0] = torch.tensor([True, False, False])
    present[0, 1] = torch.tensor([False, True, True])
    x["present"] = present
    w = model(**x)["weights"]
    assert (w[~present] == 0).all()
    real = present.any(-1)
    assert torch.allclose(w.sum(-1)[real], torch.ones(int(real.sum())), atol=1e-6)
    assert torch.equal(w[0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert (w[~real] == 0).all()


def test_absent_modality_values_are_ignored():
    model = make()
    x = inputs(b=2, n=5)
    x["present"][:, :, 1] = False  # no audio anywhere
    y = {k: v.clone() for k, v in x.items()}
    y["audio"] = torch.randn_like(y["audio"]) * 100
    assert torch.allclose(model(**x)["logits"], model(**y)["logits"], atol=1e-6)


def test_text_only_model():
    model = make(dims={"text": 12}, causal=True, context="lstm")
    x = torch.randn(2, 4, 12)
    out = model(text=x)
    assert out["logits"].shape == (2, 4, C)
    assert torch.equal(out["weights"], torch.tensor([1.0, 0.0, 0.0]).expand(2, 4, 3))
    state = model.init_state(2)
    step, _ = model.step(state, text=x[:, 0])
    assert torch.allclose(step["logits"], out["logits"][:, 0], atol=1e-5)


def test_modalities_subset_uses_only_those():
    model = make(modalities=["audio"])
    x = inputs()
    w = model(**x)["weights"]
    assert (w[..., 0] == 0).all() and (w[..., 2] == 0).all()
    out = model(**x)
    assert out["z_t"].abs().sum() > 0  # the teacher branch still runs (distillation needs it)


def test_modality_dropout_only_in_training_and_keeps_one():
    model = make(modality_dropout=0.9, modality_dropout_on=["text", "audio", "video"])
    x = inputs(b=4, n=8)
    x["present"][:] = True
    assert (model(**x)["weights"] > 0).all()  # eval: nothing dropped
    model.train()
    w = model(**x)["weights"]
    assert (w == 0).any()
    assert ((w > 0).sum(-1) >= 1).all()


def test_config_errors():
    with pytest.raises(ConfigError):
        make(fusion="nope")
    with pytest.raises(ConfigError):
        make(context="nope")
    with pytest.raises(ConfigError):
        make(modalities=["smell"])
    with pytest.raises(ConfigError):
        make(input_norm="nope")
    with pytest.raises(ConfigError):
        make(projection="nope")
    with pytest.raises(ConfigError):
        make(attention_keys="nope")
    with pytest.raises(ConfigError):
        build_model(ModelConfig(d=10, heads=3), DIMS, C)
    with pytest.raises(ConfigError):
        build_model(ModelConfig(modalities=["audio"]), {"text": 4}, C)


def test_mask_must_be_a_prefix():
    model = make()
    x = inputs(b=1, n=3)
    with pytest.raises(ModelError):
        model(**x, mask=torch.tensor([[True, False, True]]))
