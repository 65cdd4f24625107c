"""The paper's students stage end to end (issue #11): with ``freeze: false`` the audio and video
students are fine-tuned on decoded clips under the distillation objective, saved into the run,
and every later reader (fusion, evaluate, predict) uses them. Data: a generated MELD.Raw tree
(the official CSV columns, real mp4 clips in the three split folders, a missing clip and a
corrupt one), tiny random encoders of the paper's families."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from altsa.errors import DataError
from altsa.training.checkpoint import load_tensors
from altsa.training.pipeline import train


@pytest.fixture(scope="module")
def meld_tree(tmp_path_factory) -> Path:
    from altsa.training.synthetic import make_meld_tree

    return make_meld_tree(tmp_path_factory.mktemp("MELD.Raw"))


def paper_config(tree: Path, models: dict, cache: Path, extra=()):
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.synthetic import tiny_overrides

    overrides = tiny_overrides(tree, models, cache, preset="paper", text_mode=None) + [
        "data.corpus=meld",
        f"data.root={tree}",
        "data.splits={train: train_sent_emo.csv, dev: dev_sent_emo.csv, test: test_sent_emo.csv}",
        f"data.clips={tree}",
        "train.students.batch_clips=4",  # 27 readable train clips: several optimiser steps
        *extra,
    ]
    return load_config(ExperimentConfig, "paper", overrides)


@pytest.fixture(scope="module")
def meld_run(meld_tree, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper-run") / "run"
    summary = train(paper_config(meld_tree, tiny_models, out.parent / "cache"), out=out, quiet=True)
    assert summary["complete"]
    return out


def test_paper_config_fine_tunes_both_students(meld_run, tiny_models):
    metrics = json.loads((meld_run / "metrics.json").read_text())
    assert metrics["students_trained"] == ["audio", "video"]
    for m in ("audio", "video"):
        assert metrics["encoders"][m]["encoder"] == "fine-tuned here"
        tuned = meld_run / f"{m}-encoder"
        assert (tuned / "config.json").is_file() and (tuned / "model.safetensors").is_file()
        before, after = load_tensors(tiny_models[m] / "model.safetensors"), load_tensors(tuned / "model.safetensors")
        moved = [k for k in before if k in after and not torch.equal(before[k], after[k])]
        assert len(moved) > len(before) // 2, m  # the encoder itself trained, not only its head
        row = metrics[f"students-{m}"]["epochs"][0]
        assert row["train_kd_logit"] > 0 and row["train_kd_feature"] > 0  # distilled, not CE only
        # the MELD.Raw tree misses one train clip per 7 and holds one corrupt file: skipped, counted
        assert row["clips_skipped"].get("missing_file", 0) >= 1
        assert row["clips_skipped"].get("unreadable", 0) == 1, row["clips_skipped"]
        assert row["clips_read"] + sum(row["clips_skipped"].values()) == 31
    log = (meld_run / "log.txt").read_text()
    assert "skipped unreadable clips this epoch" in log and "distilled from the teacher" in log


def test_later_readers_use_the_tuned_students(meld_run, meld_tree):
    from altsa.inference import Recognizer
    from altsa.training.run import load_run

    run = load_run(meld_run)
    for m in ("text", "audio", "video"):
        assert Path(run.encoders[m].model) == (meld_run / f"{m}-encoder").resolve(), m
        assert run.encoders[m].freeze and run.encoders[m].unfreeze_last == 0
    rec = Recognizer.from_pretrained(meld_run)
    assert Path(rec.info()["encoders"]["audio"]["model"]).name == "audio-encoder"
    clip = meld_tree / "output_repeated_splits_test" / "dia0_utt0.mp4"
    out = rec.predict([{"text": "great news, thank you so much", "speaker": "Ross", "media": str(clip)}])
    assert out[0].absent == {} and out[0].weights["audio"] > 0 and out[0].weights["video"] > 0


def test_evaluate_scores_every_test_utterance(meld_run, meld_tree, capsys):
    from altsa.cli.main import main

    assert main(["evaluate", str(meld_run), "--data", str(meld_tree / "test_sent_emo.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # stdout holds only the JSON
    n_test = len((meld_tree / "test_sent_emo.csv").read_text().strip().splitlines()) - 1
    assert result["n"] == n_test == 12
    assert result["weights_mean"]["audio"] > 0 and not result["absent"].get("audio")


def test_clips_missing_everywhere_stop_the_run(meld_tree, tiny_models, tmp_path):
    """A wrong data.clips must not silently turn the paper's model into a text-only one."""
    empty = tmp_path / "empty-clips"
    empty.mkdir()
    cfg = paper_config(meld_tree, tiny_models, tmp_path / "cache", extra=[f"data.clips={empty}"])
    with pytest.raises(DataError, match="allow-missing-media") as err:
        train(cfg, out=tmp_path / "run", quiet=True)
    assert "missing_file: 31" in str(err.value) and not (tmp_path / "run" / "config.yaml").exists()
    allowed = paper_config(meld_tree, tiny_models, tmp_path / "cache",
                           extra=[f"data.clips={empty}", "train.allow_missing_media=true", "train.stages=[teacher,fusion]"])
    summary = train(allowed, out=tmp_path / "text-only", quiet=True)
    assert summary["complete"]
    assert json.loads((tmp_path / "text-only" / "metrics.json").read_text())["fused_modalities"] == ["text"]


def test_unfreeze_last_trains_only_the_top_blocks(tiny_models):
    from altsa.encoders.audio import HFAudioEncoder
    from altsa.encoders.base import EncoderConfig
    from altsa.training.students import trainable_prefixes

    enc = HFAudioEncoder(EncoderConfig(kind="hf-audio", model=str(tiny_models["audio"]), unfreeze_last=1))
    names = trainable_prefixes(enc.module, "encoder")
    assert names and all(n.startswith("encoder.encoder.layers.1.") for n in names)
    full = HFAudioEncoder(EncoderConfig(kind="hf-audio", model=str(tiny_models["audio"]), freeze=False))
    assert len(trainable_prefixes(full.module, "encoder")) == len(list(full.module.parameters()))


def test_out_of_memory_halves_the_batch(tmp_path):
    """A batch that runs out of memory is redone in halves (gradients summed over them) and the
    smaller size is kept; a single item that does not fit is a clear error."""
    from accelerate import Accelerator

    from altsa.training.config import StageConfig
    from altsa.training.loop import Stage, run_stage
    from altsa.training.run import RunDir

    torch.manual_seed(0)
    x, y = torch.randn(12, 3), torch.randint(0, 2, (12,))
    sizes: list[int] = []

    def load(idx):
        return {"x": x[idx], "y": y[idx]}

    def loss(module, batch):
        sizes.append(len(batch["y"]))
        if len(batch["y"]) > 3:  # what a GPU too small for 4 items would do
            raise torch.OutOfMemoryError("CUDA out of memory (simulated by the test)")
        ce = torch.nn.functional.cross_entropy(module(batch["x"]), batch["y"])
        return {"loss": ce, "ce": ce, "kd_logit": ce.detach() * 0, "kd_feature": ce.detach() * 0}

    run = RunDir(tmp_path / "run", quiet=True)
    stage = Stage("students-audio", torch.nn.Linear(3, 2), ["weight", "bias"], {"audio": ["weight", "bias"]}, 12, 6, load, loss,
                  lambda module: {"audio": 1.0}, StageConfig(epochs=2), unit="clips")
    run_stage(stage, run, Accelerator(cpu=True), 0, progress=False)
    assert sizes[0] == 6 and max(sizes[1:]) == 3  # halved once, then kept at 3 for every later batch
    assert "out of memory on a batch of 6 clips; halving it" in (run.path / "log.txt").read_text()

    tiny = Stage("students-video", torch.nn.Linear(3, 2), ["weight", "bias"], {"video": ["weight", "bias"]}, 12, 1, load,
                 lambda module, batch: (_ for _ in ()).throw(torch.OutOfMemoryError("simulated")),
                 lambda module: {"video": 1.0}, StageConfig(epochs=1), unit="clips")
    from altsa.errors import ModelError

    with pytest.raises(ModelError, match="out of memory with one clip per pass"):
        run_stage(tiny, RunDir(tmp_path / "run2", quiet=True), Accelerator(cpu=True), 0, progress=False)
