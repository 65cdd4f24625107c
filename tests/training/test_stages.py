"""Each stage trains exactly its parameters: the frozen teacher gets no gradient from the
student objective, branches stay fixed in the fusion stage (spec: "encoders frozen")."""

from __future__ import annotations

import pytest
import torch

from altsa.experiment import ExperimentConfig
from altsa.model import ModelConfig, build_model
from altsa.training import pipeline
from altsa.training.data import Dialogue, FeatureSplit, collate
from altsa.training.loop import run_stage
from altsa.training.run import RunDir

DIMS = {"text": 12, "audio": 10, "video": 8}


def random_split(name: str, n: int, seed: int) -> FeatureSplit:
    g = torch.Generator().manual_seed(seed)
    dialogues = []
    for d in range(n):
        k = 2 + d % 4
        labels = torch.randint(0, 3, (k,), generator=g)
        inputs = {m: torch.randn(k, dim, generator=g) + labels[:, None].float() for m, dim in DIMS.items()}
        present = torch.rand(k, 3, generator=g) > 0.2
        present[:, 0] = True
        dialogues.append(Dialogue(f"{name}{d}", [f"{name}{d}/{i}" for i in range(k)], inputs, present, labels))
    return FeatureSplit(name, dialogues, dict(DIMS))


@pytest.fixture
def setup(tmp_path):
    cfg = ExperimentConfig(model=ModelConfig(d=16, heads=2))
    cfg.train.teacher.epochs = cfg.train.students.epochs = cfg.train.fusion.epochs = 1
    torch.manual_seed(0)
    model = build_model(cfg.model, DIMS, 3)
    return cfg, model, random_split("train", 12, 0), random_split("dev", 4, 1), RunDir(tmp_path, quiet=True)


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def changed(before, model):
    return {k.split(".")[0] + ("." + k.split(".")[1] if k.startswith("branches") else "")
            for k, v in model.state_dict().items() if not torch.equal(v, before[k])}


def test_student_objective_sends_no_gradient_to_the_teacher(setup):
    cfg, model, train, dev, _ = setup
    stage = pipeline.students_stage(model, ["audio", "video"], train, dev, cfg, None)
    batch = collate(train.dialogues[:4], train.dims)
    parts = stage.loss(model, batch)
    assert parts["kd_logit"] > 0 and parts["kd_feature"] > 0
    parts["loss"].backward()
    assert all(p.grad is None for p in model.branches["text"].parameters())
    assert all(p.grad is None for p in model.fusion_parameters())
    assert all(p.grad is not None for p in model.branches["audio"].parameters())


@pytest.mark.parametrize(
    "stage,expected",
    [
        ("teacher", {"branches.text"}),
        ("students", {"branches.audio", "branches.video"}),
        ("fusion", {"fusion", "context", "classifier"}),
    ],
)
def test_each_stage_changes_only_its_parameters(setup, stage, expected):
    from accelerate import Accelerator

    cfg, model, train, dev, run = setup
    make = {
        "teacher": lambda: pipeline.teacher_stage(model, train, dev, cfg, None),
        "students": lambda: pipeline.students_stage(model, ["audio", "video"], train, dev, cfg, None),
        "fusion": lambda: pipeline.fusion_stage(model, [], train, dev, cfg, None),
    }[stage]
    before = snapshot(model)
    run_stage(make(), run, Accelerator(cpu=True), 0, progress=False)
    assert changed(before, model) == expected


def test_fusion_trains_branches_that_no_stage_trained(setup):
    from accelerate import Accelerator

    cfg, model, train, dev, run = setup
    before = snapshot(model)
    run_stage(pipeline.fusion_stage(model, ["audio"], train, dev, cfg, None), run, Accelerator(cpu=True), 0,
              progress=False)
    assert changed(before, model) == {"fusion", "context", "classifier", "branches.audio"}


def test_ema_weights_are_what_the_stage_keeps(setup, tmp_path):
    """With ema > 0, dev scoring and the kept weights are the running average of the weights."""
    from accelerate import Accelerator

    cfg, model, train, dev, run = setup
    start = snapshot(model)
    run_stage(pipeline.fusion_stage(model, [], train, dev, cfg, None), run, Accelerator(cpu=True), 0, progress=False)
    plain = snapshot(model)
    model.load_state_dict(start)
    cfg.train.fusion.ema = 0.5
    ema_run = RunDir(tmp_path / "ema", quiet=True)
    run_stage(pipeline.fusion_stage(model, [], train, dev, cfg, None), ema_run, Accelerator(cpu=True), 0,
              progress=False)
    assert (ema_run.path / "checkpoints" / "fusion" / "last" / "ema.safetensors").is_file()
    w = "classifier.weight"
    # one epoch, one optimiser step (12 dialogues, batches of 16): ema = (start + w1) / 2, halfway
    assert not torch.equal(model.state_dict()[w], plain[w]) and not torch.equal(model.state_dict()[w], start[w])
    assert (model.state_dict()[w] - start[w]).abs().sum() < (plain[w] - start[w]).abs().sum()


def test_distillation_targets_come_from_the_teacher_in_eval_mode(setup):
    """No dropout noise in z_t or h_t: with the teacher's dropout at 0.9 and the students' at 0,
    the student objective is the same on every call and equals the one computed from the
    eval-mode teacher."""
    from altsa.losses import DistillWeights, student_loss

    cfg, model, train, dev, _ = setup
    model.train()
    for m in ("audio", "video"):
        model.branches[m].dropout.p = 0.0
    model.branches["text"].dropout.p = 0.9
    stage = pipeline.students_stage(model, ["audio"], train, dev, cfg, None)
    batch = collate(train.dialogues[:6], train.dims)
    values = []
    for seed in range(3):
        torch.manual_seed(seed)
        values.append(stage.loss(model, batch)["loss"].item())
    assert values[0] == values[1] == values[2]
    assert model.branches["text"].training  # the stage's mode is left as it was
    sel = batch["present"][..., 1] & batch["present"][..., 0] & batch["mask"]
    model.eval()
    out = model(**{k: batch[k] for k in ("text", "audio", "video", "present", "mask")}, branches_only=True)
    t = cfg.train
    hp = DistillWeights(t.tau, t.beta, t.gamma, t.tau_f, t.lambda_logit, t.lambda_feat)
    expected = student_loss(out["z_a"][sel], out["h_a"][sel], out["z_t"][sel], out["h_t"][sel], batch["labels"][sel], hp)
    assert values[0] == pytest.approx(expected["loss"].item(), rel=1e-6)
