"""A killed run resumes from its last checkpoint and ends exactly where an uninterrupted
run ends; stages run one at a time equal one full run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from altsa.errors import ConfigError
from altsa.training import pipeline
from altsa.training.checkpoint import load_tensors
from altsa.training.pipeline import resume, train


class Killed(Exception):
    """Stands in for SIGKILL: raised from inside the training loop."""


def _weights(run):
    return load_tensors(run / "model.safetensors")


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def cfg(tiny):
    # two epochs per stage, two steps per epoch, a checkpoint after every optimiser step
    return tiny(epochs=2, extra=["train.checkpoint_every=1", "model.modality_dropout=0.2", "model.dropout=0.3",
                                  "train.fusion.ema=0.9", "train.students.ema=0.5"])


@pytest.fixture(scope="module")
def reference(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    train(cfg, out=out, quiet=True)
    return out


@pytest.mark.parametrize("stage,after", [("students", 3), ("fusion", 2)])
def test_killed_run_resumes_to_the_same_result(cfg, reference, tmp_path, monkeypatch, stage, after):
    original = getattr(pipeline, f"{stage}_stage")

    def killing(*args, **kwargs):
        spec = original(*args, **kwargs)
        calls = {"n": 0}
        loss = spec.loss

        def counted(module, batch):
            calls["n"] += 1
            if calls["n"] > after:
                raise Killed()
            return loss(module, batch)

        return dataclasses.replace(spec, loss=counted)

    monkeypatch.setattr(pipeline, f"{stage}_stage", killing)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(cfg, out=out, quiet=True)
    assert not (out / "model.safetensors").exists()
    assert (out / "checkpoints" / stage / "last" / "state.json").is_file()
    monkeypatch.setattr(pipeline, f"{stage}_stage", original)
    summary = resume(out, quiet=True)
    _same(_weights(out), _weights(reference))
    ref = json.loads((reference / "metrics.json").read_text())
    got = json.loads((out / "metrics.json").read_text())
    for s in ("teacher", "students", "fusion"):
        strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
        assert strip(got[s]["epochs"]) == strip(ref[s]["epochs"]), s
    assert summary["dev"]["weighted_f1"] == ref["final"]["weighted_f1"]


def test_stages_one_at_a_time_equal_one_run(cfg, reference, tmp_path):
    out = tmp_path / "run"
    for stage in ("teacher", "students"):
        assert train(cfg, out=out, stage=stage, quiet=True)["complete"] is False
    with pytest.raises(ConfigError):  # a stage already done: --stage on a finished stage is fine,
        train(cfg, out=tmp_path / "other", stage="fusion", quiet=True)  # but not without its predecessors
    assert train(cfg, out=out, stage="fusion", quiet=True)["complete"]
    _same(_weights(out), _weights(reference))


def test_a_run_directory_is_not_overwritten(cfg, reference):
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, out=reference, quiet=True)
    other = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, d=32))
    with pytest.raises(ConfigError, match="model"):
        train(other, out=reference, stage="fusion", quiet=True)


def test_a_run_folder_in_use_is_refused_at_once(cfg, reference, tmp_path):
    """A second train (or --resume) into a folder another process is training stops with its
    pid, before touching anything; the lock goes with the process that held it."""
    import os

    from altsa.errors import ModelError
    from altsa.training.run import run_lock

    with run_lock(tmp_path / "busy"):  # as another process would hold it (a separate open file)
        with pytest.raises(ModelError, match=rf"in use by another altsa train \(pid {os.getpid()}\)"):
            train(cfg, out=tmp_path / "busy", quiet=True)
        assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == [".lock"]
        with run_lock(reference):
            with pytest.raises(ModelError, match="in use by another altsa train"):
                resume(reference, quiet=True)
    assert train(cfg, out=tmp_path / "busy", quiet=True)["complete"]  # free again


def test_a_hand_damaged_run_file_is_a_one_line_error(cfg, reference, tmp_path):
    """Run files are written whole (atomically); one changed by hand is a ModelError saying so."""
    import shutil

    from altsa.errors import ModelError
    from altsa.training.run import RunDir

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    for name in ("metrics.json", "checkpoints/fusion/last/state.json"):
        target = run / name
        target.write_text(target.read_text(encoding="utf-8")[:20], encoding="utf-8")
    with pytest.raises(ModelError, match="metrics.json is damaged"):
        RunDir(run, quiet=True).metrics()
    with pytest.raises(ModelError, match="metrics.json is damaged"):
        resume(run, stage="fusion", quiet=True)
    from altsa.training.checkpoint import load_checkpoint

    with pytest.raises(ModelError, match="state.json is damaged"):  # what a resume inside the stage reads
        load_checkpoint(run / "checkpoints" / "fusion" / "last")


def test_a_checkpoint_swap_killed_midway_is_still_found(tmp_path):
    """save_checkpoint swaps folders: last -> last.old, last.tmp -> last. A kill between the two
    renames leaves .old and a whole .tmp (the newer); a second kill later may leave only .tmp."""
    import os
    import shutil

    from altsa.training.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint

    last = tmp_path / "last"
    for step in (1, 2):
        save_checkpoint(last, model={"w": torch.full((2,), float(step))}, optimizer=None, state={"step": step})
    os.replace(last, tmp_path / "last.old")  # step 2 moved aside...
    save_checkpoint(tmp_path / "staging", model={"w": torch.full((2,), 3.0)}, optimizer=None, state={"step": 3})
    os.replace(tmp_path / "staging", tmp_path / "last.tmp")  # ...and step 3 whole in .tmp, not yet renamed
    assert find_checkpoint(last) == tmp_path / "last.tmp"
    assert load_checkpoint(find_checkpoint(last))["state"]["step"] == 3
    (tmp_path / "last.tmp" / "state.json").unlink()  # a .tmp without its state.json is half-written: never used
    assert find_checkpoint(last) == tmp_path / "last.old"
    shutil.rmtree(tmp_path / "last.old")
    assert find_checkpoint(last) is None
