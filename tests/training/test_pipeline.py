"""End-to-end training on the synthetic corpus: stages, run layout, resume, load_run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from altsa.errors import ConfigError, DataError
from altsa.training.pipeline import resume, train
from altsa.training.run import load_run



@pytest.fixture(scope="module")
def full_run(tiny, tmp_path_factory):
    cfg = tiny(extra=["model.modality_dropout=0.3"])
    out = tmp_path_factory.mktemp("runs") / "full"
    summary = train(cfg, out=out, quiet=True)
    return out, summary


def test_three_stages_write_the_run_layout(full_run):
    out, summary = full_run
    assert summary["complete"]
    for name in ("config.yaml", "labels.json", "model.safetensors", "metrics.json", "log.txt"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for stage in ("teacher", "students", "fusion"):
        assert (out / "checkpoints" / stage / "done.json").is_file()
        assert len(metrics[stage]["epochs"]) == 1
    assert set(metrics["students"]["best"]) == {"audio", "video"}
    assert metrics["fused_modalities"] == ["text", "audio", "video"]
    assert 0.0 <= metrics["final"]["weighted_f1"] <= 100.0
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.bin"))  # no pickles


def test_load_run_gives_an_eval_model(full_run):
    out, summary = full_run
    run = load_run(out)
    assert not run.model.training
    assert run.labels.labels[:2] == ("anger", "disgust")
    assert set(run.encoders) == {"text", "audio", "video"}
    assert run.model.dims["audio"] == 32
    assert run.metrics["final"]["weighted_f1"] == pytest.approx(summary["dev"]["weighted_f1"])


def test_causal_text_only_variant_trains_and_streams(tiny, tmp_path):
    """The streaming model of the inference engineer: causal, one-directional LSTM, text only."""
    cfg = tiny(modalities=("text",), extra=["model.causal=true", "model.context=lstm", "model.max_context=3"])
    out = tmp_path / "causal"
    assert train(cfg, out=out, quiet=True)["complete"]
    run = load_run(out)
    assert run.model.dims == {"text": 32} and run.modalities == ["text"]
    x = torch.randn(1, 5, 32)
    full = run.model(text=x)
    state = run.model.init_state(1)
    for i in range(5):
        step, state = run.model.step(state, text=x[:, i])
        assert torch.allclose(step["logits"], full["logits"][:, i], atol=1e-5)


def test_explicit_modality_without_data_is_an_error(tiny, tmp_path):
    cfg = tiny(modalities=("text",), extra=["model.modalities=[text,audio]"])
    with pytest.raises(ConfigError, match="audio"):
        train(cfg, out=tmp_path / "bad", quiet=True)


def test_unknown_label_in_dev_is_a_data_error(tiny, tmp_path, corpus_dir):
    import shutil

    bad = tmp_path / "corpus"
    shutil.copytree(corpus_dir, bad, ignore=shutil.ignore_patterns("clips"))
    lines = (bad / "dev.jsonl").read_text().splitlines()
    obj = json.loads(lines[0])
    obj["utterances"][0]["emotion"] = "bored"
    lines[0] = json.dumps(obj)
    (bad / "dev.jsonl").write_text("\n".join(lines) + "\n")
    cfg = tiny(modalities=("text",), extra=[f"data.root={bad}"])
    with pytest.raises(DataError, match="bored"):
        train(cfg, out=tmp_path / "run", quiet=True)


def test_tensorboard_events_or_a_clear_error(tiny, tmp_path):
    cfg = tiny(modalities=("text",), extra=["train.tensorboard=true"])
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="tensorboard"):
            train(cfg, out=tmp_path / "tb", quiet=True)
        return
    train(cfg, out=tmp_path / "tb", quiet=True)
    events = list((tmp_path / "tb" / "tb").rglob("events.out.tfevents.*"))
    assert {e.parent.name for e in events} == {"teacher", "fusion"}


def test_a_shared_teacher_must_be_a_finished_fitting_one(tiny, tmp_path, full_run):
    out, _ = full_run
    with pytest.raises(ConfigError, match="not a run directory"):
        train(tiny(extra=[f"train.teacher_from={tmp_path}"]), out=tmp_path / "a", quiet=True)
    with pytest.raises(ConfigError, match="text encoder config differs"):
        train(tiny(extra=[f"train.teacher_from={out}", "encoders.text.max_length=32"]), out=tmp_path / "b", quiet=True)
    shared = train(tiny(extra=[f"train.teacher_from={out}", "model.modality_dropout=0.3"]), out=tmp_path / "c",
                   quiet=True)
    source = load_run(out).model.state_dict()
    mine = load_run(tmp_path / "c").model.state_dict()
    assert shared["complete"]
    assert all(torch.equal(mine[k], source[k]) for k in source if k.startswith("branches.text."))


def test_teacher_with_unfreeze_last_trains_only_the_top_blocks(tiny, tmp_path, tiny_models):
    """freeze: true + unfreeze_last: 1 fine-tunes the last block and leaves the others as loaded."""
    from safetensors.torch import load_file

    cfg = tiny(modalities=("text",), extra=["encoders.text.freeze=true", "encoders.text.unfreeze_last=1",
                                            "train.teacher.encoder_lr=0.05"])
    out = tmp_path / "top1"
    train(cfg, out=out, stage="teacher", quiet=True)
    before = load_file(str(next(Path(tiny_models["text"]).glob("*.safetensors"))))
    after = load_file(str(next((out / "text-encoder").glob("*.safetensors"))))
    layers = sorted({int(k.split("layer.")[1].split(".")[0]) for k in before if "layer." in k})
    last = f"layer.{layers[-1]}."
    changed = {k for k in before if k in after and not torch.equal(before[k], after[k])}
    assert changed, "the top block did not train"
    assert all(last in k for k in changed), sorted(changed)[:5]
