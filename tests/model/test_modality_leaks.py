"""A removed modality is absent everywhere (spec 3, "Ablations"): left out by
``model.modalities`` or dropped by modality dropout, its input changes no logit and no weight,
in every fusion, whole-dialogue and turn by turn, exactly as if its clip were missing."""

import pytest
import torch

from altsa.model import FUSIONS, MODALITIES, ModelConfig, build_model

DIMS = {"text": 12, "audio": 10, "video": 8}
C = 5


def make(**kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(**{"d": 16, "heads": 2, "dropout": 0.0, **kw}), DIMS, C).eval()


def inputs(b=2, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(b, n, dim, generator=g) for m, dim in DIMS.items()}
    x["present"] = torch.ones(b, n, 3, dtype=torch.bool)
    x["present"][0, 2, 1] = False  # one missing clip, so "absent" and "removed" meet
    return x


def perturbed(x, modalities):
    y = {k: v.clone() for k, v in x.items()}
    for m in modalities:
        y[m] = torch.randn_like(y[m]) * 10.0 + 3.0
    return y


REMOVALS = [  # (model.modalities, modalities whose input must not matter)
    (["text", "video"], ["audio"]),
    (["text", "audio"], ["video"]),
    (["text"], ["audio", "video"]),
    (["audio"], ["text", "video"]),
    (["video", "audio"], ["text"]),
]


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("use,removed", REMOVALS)
def test_removed_modality_changes_no_logit(fusion, use, removed):
    model = make(fusion=fusion, modalities=use)
    x = inputs()
    out, out2 = model(**x), model(**perturbed(x, removed))
    assert torch.equal(out["logits"], out2["logits"])
    assert torch.equal(out["weights"], out2["weights"])
    for m in removed:
        assert (out["weights"][..., MODALITIES.index(m)] == 0).all()
    kept = [m for m in use if m not in removed]
    assert not torch.allclose(out["logits"], model(**perturbed(x, kept))["logits"])  # the test can fail


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("use,removed", REMOVALS)
def test_removed_modality_equals_a_missing_clip(fusion, use, removed):
    """Leaving a modality out gives the logits of the full model on data without it."""
    model = make(fusion=fusion, modalities=use)
    full = make(fusion=fusion)  # same seed: same weights
    x = inputs()
    missing = {k: v.clone() for k, v in x.items()}
    for m in removed:
        missing["present"][..., MODALITIES.index(m)] = False
    assert torch.allclose(model(**x)["logits"], full(**missing)["logits"], atol=1e-6)


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("use,removed", REMOVALS[:4])
def test_removed_modality_changes_no_step(fusion, use, removed):
    model = make(fusion=fusion, modalities=use, causal=True, context="lstm")
    x = inputs(b=2, n=4)
    y = perturbed(x, removed)
    s1, s2 = model.init_state(2), model.init_state(2)
    for i in range(4):
        o1, s1 = model.step(s1, *(x[m][:, i] for m in MODALITIES), x["present"][:, i])
        o2, s2 = model.step(s2, *(y[m][:, i] for m in MODALITIES), y["present"][:, i])
        assert torch.equal(o1["logits"], o2["logits"]), i


@pytest.mark.parametrize("fusion", FUSIONS.names())
def test_modality_dropout_removes_what_it_drops(fusion):
    """Training mode, audio and video always dropped: their inputs change no logit."""
    model = make(fusion=fusion, modality_dropout=1.0, modality_dropout_on=["audio", "video"]).train()
    x = inputs()
    torch.manual_seed(1)
    out = model(**x)
    torch.manual_seed(1)
    out2 = model(**perturbed(x, ["audio", "video"]))
    assert torch.equal(out["logits"], out2["logits"])
    assert (out["weights"][..., 1:] == 0).all()


@pytest.mark.parametrize("fusion", FUSIONS.names())
def test_dropped_modality_equals_a_missing_clip(fusion):
    """Per utterance: what dropout dropped gives the logits of that utterance without the clip."""
    model = make(fusion=fusion, context="none", modality_dropout=0.5, modality_dropout_on=["audio", "video"])
    x = inputs(b=2, n=6, seed=2)
    model.train()
    torch.manual_seed(5)
    out = model(**x)
    kept = out["weights"] > 0  # [B, N, 3]: dropped modalities have weight 0
    assert (~kept[..., 1:]).any() and kept[..., 1:].any()
    model.eval()
    as_missing = {**x, "present": x["present"] & kept}
    assert torch.allclose(out["logits"], model(**as_missing)["logits"], atol=1e-6)
