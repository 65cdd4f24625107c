"""Every shipped config loads, validates and trains two steps per stage (tiny encoders
substituted by overrides, as the style guide's two-step recipe tests)."""

from __future__ import annotations

import json

import pytest

from altsa.config import load_config, shipped_configs
from altsa.experiment import ExperimentConfig
from altsa.training.pipeline import STAGES, encoder_configs, validate

SHIPPED = shipped_configs()


def test_the_three_configs_are_shipped():
    assert {"paper", "embedded-frozen", "embedded-finetune"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_loads_and_validates(name):
    cfg = load_config(ExperimentConfig, name)
    validate(cfg)
    encoders = encoder_configs(cfg)
    assert set(encoders) == set(cfg.encoders.modalities)
    from altsa.model import CONTEXTS, FUSIONS

    assert cfg.model.fusion in FUSIONS and cfg.model.context in CONTEXTS


def test_paper_config_is_the_spec():
    cfg = load_config(ExperimentConfig, "paper")
    enc = encoder_configs(cfg)
    assert enc["text"].model == "roberta-large" and not enc["text"].freeze and enc["text"].text_mode == "context"
    assert "data2vec" in enc["audio"].model.lower() and "timesformer" in enc["video"].model.lower()
    t = cfg.train
    assert (t.tau, t.beta, t.gamma, t.tau_f, t.distill) == (4.0, 1.0, 1.0, 1.0, True)
    assert cfg.model.fusion == "altsa" and cfg.model.context == "bilstm" and list(t.stages) == list(STAGES)
    assert not enc["audio"].freeze and not enc["video"].freeze  # the students are distilled end to end
    assert cfg.data.splits["test"] == "test_sent_emo.csv"  # one command evaluates MELD's test split


@pytest.mark.parametrize("name", SHIPPED)
def test_two_steps_of_every_stage(name, tiny, tmp_path):
    from altsa.training.pipeline import train

    cfg = tiny(base=name, text_mode=None)
    summary = train(cfg, out=tmp_path / name, quiet=True)
    assert summary["complete"]
    metrics = json.loads((tmp_path / name / "metrics.json").read_text())
    encoders = encoder_configs(cfg)
    tuned = [m for m in ("audio", "video") if not encoders[m].freeze]  # students fine-tuned end to end
    stages = [s for s in STAGES if s != "students" or len(tuned) < 2] + [f"students-{m}" for m in tuned]
    for stage in stages:
        rows = metrics[stage]["epochs"]
        assert len(rows) == 1 and rows[0]["train_loss"] > 0, stage
    for m in ("text", *tuned):
        if not encoders[m].freeze:
            assert (tmp_path / name / f"{m}-encoder" / "config.json").is_file(), m  # the fine-tuned encoder


@pytest.mark.parametrize("override", ["train.contrastive.weight=-0.5", "train.contrastive.tau=0", "train.contrastive.queue=0"])
def test_a_bad_contrastive_setting_is_a_config_error(override):
    from altsa.errors import ConfigError

    cfg = load_config(ExperimentConfig, "embedded-frozen", [override])
    with pytest.raises(ConfigError, match="train.contrastive needs"):
        validate(cfg)


@pytest.mark.parametrize("override, match", [
    ("train.teacher.layer_decay=0", "train.teacher.layer_decay must be in"),
    ("train.students.layer_decay=1.5", "train.students.layer_decay must be in"),
    ("train.fusion.layer_decay=0.8", "the fusion stage fine-tunes no encoder"),
    ("train.teacher.epochs=0", "train.teacher.epochs must be at least 1"),
    ("train.fusion.epochs=-1", "train.fusion.epochs must be at least 1"),
])
def test_a_bad_stage_setting_is_a_config_error_at_set_up(override, match):
    from altsa.errors import ConfigError

    cfg = load_config(ExperimentConfig, "embedded-finetune", [override])
    with pytest.raises(ConfigError, match=match):
        validate(cfg)


@pytest.mark.parametrize("value", ["-0.5", "nan"])
def test_a_negative_rdrop_is_a_config_error(value):
    from altsa.errors import ConfigError

    cfg = load_config(ExperimentConfig, "embedded-frozen", [f"train.rdrop={value}"])
    with pytest.raises(ConfigError, match="train.rdrop is R-Drop's alpha"):
        validate(cfg)
