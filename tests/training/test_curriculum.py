"""SPCL's curriculum (``train.curriculum: spcl``, ``altsa.training.curriculum``): the difficulty
measure and the pacing pinned by numpy goldens, the draw's probabilities and size, and the
curriculum in every teacher route, through a killed and resumed run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from altsa.losses import IGNORE
from altsa.training import curriculum as cl


def _np_difficulty(h, y, classes):
    """DIF by hand: centres = class means; d = (1 - cos) / 2 + 1e-8; own / sum over centres."""
    centres = {c: h[y == c].mean(0) for c in classes}

    def d(a, b):
        return (1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) / 2 + 1e-8

    return np.array([d(h[i], centres[y[i]]) / sum(d(h[i], centres[c]) for c in classes) for i in range(len(y))])


def test_difficulty_matches_numpy():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(9, 4))
    y = np.array([0, 0, 0, 1, 1, 1, 3, 3, 3])  # class 2 has no row: no centre for it
    got = cl.difficulty(torch.tensor(h, dtype=torch.float32), torch.tensor(y), num_classes=4)
    np.testing.assert_allclose(got.numpy(), _np_difficulty(h, y, [0, 1, 3]), rtol=1e-5)


def test_difficulty_orders_the_near_before_the_confused():
    # class 0 round (1, 0), class 1 round (0, 1); row 2 is a class-0 row pointing at class 1
    h = torch.tensor([[1.0, 0.05], [1.0, -0.05], [0.1, 1.0], [0.0, 1.0], [0.05, 1.0]])
    y = torch.tensor([0, 0, 0, 1, 1])
    dif = cl.difficulty(h, y, 2)
    assert dif[2] > 0.5 > dif[0]  # nearer the other centre than its own
    assert int(torch.argmax(dif)) == 2


def test_unlabelled_rows_have_no_difficulty_and_do_not_move_the_centres():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(6, 3))
    y = np.array([0, 0, 1, 1, 0, 1])
    y_ign = y.copy()
    y_ign[4] = IGNORE
    h_far = h.copy()
    h_far[4] = 100.0  # would drag class 0's centre if it counted
    got = cl.difficulty(torch.tensor(h_far, dtype=torch.float32), torch.tensor(y_ign), 2)
    assert torch.isnan(got[4]) and not torch.isnan(got[[0, 1, 2, 3, 5]]).any()
    keep = [0, 1, 2, 3, 5]
    np.testing.assert_allclose(got[keep].numpy(), _np_difficulty(h[keep], y[keep], [0, 1]), rtol=1e-5)


def test_item_difficulty_is_the_mean_of_its_rows_and_median_when_empty():
    rows = torch.tensor([0.2, 0.4, float("nan"), 0.9, 0.1])
    item = torch.tensor([0, 0, 1, 2, 3])
    got = cl.item_difficulty(rows, item, 5)  # item 1: NaN only; item 4: no rows
    np.testing.assert_allclose(got.numpy(), [0.3, 0.3, 0.9, 0.1, 0.3], rtol=1e-6)  # median of 0.3, 0.9, 0.1


@pytest.mark.parametrize("epoch, epochs, expected", [
    (0, 4, [1.0, 0.75, 0.5, 0.25, 0.0]),  # the easiest surely, the hardest never
    (3, 4, [0.25, 0.375, 0.5, 0.625, 0.75]),  # s = 1/4, t = 3/4
    (1, 2, [0.5] * 5),  # the middle of the schedule: every item alike
])
def test_pacing_probabilities(epoch, epochs, expected):
    p = cl.probabilities(5, epoch, epochs)
    np.testing.assert_allclose(p.numpy(), expected, atol=1e-7)
    assert p.sum().item() == pytest.approx(2.5)


def test_systematic_draw_keeps_each_probability_and_a_fixed_count():
    p = cl.probabilities(11, 1, 5)  # from 0.8 down to ... up to 0.2: sum 5.5
    g = torch.Generator().manual_seed(0)
    seen = torch.zeros(11)
    draws = 4000
    for _ in range(draws):
        kept = cl.systematic(p, g)
        assert len(kept) in (5, 6)
        seen[kept] += 1
    np.testing.assert_allclose((seen / draws).numpy(), p.numpy(), atol=0.03)
    edge = cl.systematic(torch.tensor([1.0, 0.0, 1.0, 0.0]), g)
    assert edge == [0, 2]


def test_select_draws_half_from_the_easy_end_in_the_first_epoch():
    n = 40
    h = torch.zeros(n, 2)
    angle = torch.linspace(0, 1.5, n)  # item i: further from class 0's direction as i grows
    h[:, 0], h[:, 1] = torch.cos(angle), torch.sin(angle)
    labels = torch.zeros(n, dtype=torch.long)
    labels[-1] = 1  # one row of class 1 at the far end

    def embed(module):
        return h, labels, torch.arange(n)

    cur = cl.Curriculum(embed, n, 2, epochs=4)
    first, last = cur.select(torch.nn.Linear(1, 1), 0, seed=3), cur.select(torch.nn.Linear(1, 1), 3, seed=3)
    dif = cl.difficulty(h, labels, 2)
    rank = torch.argsort(torch.argsort(dif))
    assert len(first) == len(last) == n // 2
    assert int(torch.argmin(dif)) in first and int(torch.argmax(dif)) not in first
    assert rank[first].float().mean() < rank[last].float().mean()
    assert cur.select(torch.nn.Linear(1, 1), 0, seed=3) == first  # a pure function of weights, seed and epoch


def test_unknown_curriculum_is_a_config_error(tiny):
    from altsa.errors import ConfigError
    from altsa.training.pipeline import validate

    with pytest.raises(ConfigError, match="train.curriculum must be one of none, spcl"):
        validate(tiny(extra=["train.curriculum=easy-first"]))


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory):
    from altsa.encoders.tiny import save_tiny_mpnet

    return save_tiny_mpnet(tmp_path_factory.mktemp("tiny-mpnet"), layers=3)


@pytest.mark.parametrize("base, extra, items", [
    ("meld-text-accurate-base", ["encoders.text.options.cache_lower=true"], "utterances"),  # LoRA over cached states
    ("embedded-frozen", [], "dialogues"),  # frozen vectors, batches of dialogues
    ("embedded-finetune", [], "utterances"),  # the whole text encoder fine-tuned
])
def test_curriculum_joins_every_teacher_route(tiny, tiny_mpnet, tmp_path, base, extra, items):
    """Each teacher epoch trains half its items (the synthetic train split: 8 dialogues, 33
    labelled utterances); the other stages train on all of theirs."""
    from altsa.training.pipeline import train

    text = [f"encoders.text.model={tiny_mpnet}"] if base != "embedded-frozen" else []
    cfg = tiny(base=base, text_mode=None, extra=[*text, *extra, "train.teacher.epochs=2", "train.fusion.epochs=1",
                                                 "train.curriculum=spcl"])
    out = tmp_path / "run"
    assert train(cfg, out=out, quiet=True)["complete"]
    metrics = json.loads((out / "metrics.json").read_text())
    total = 8 if items == "dialogues" else sum(
        1 for line in (Path(cfg.data.root) / "train.jsonl").read_text().splitlines() for _ in json.loads(line)["utterances"])
    for row in metrics["teacher"]["epochs"]:
        assert row["curriculum_items"] in (total // 2, (total + 1) // 2)
    assert "curriculum_items" not in metrics["fusion"]["epochs"][0]
    assert f"curriculum draws {metrics['teacher']['epochs'][0]['curriculum_items']} of {total} {items}" in (
        out / "log.txt").read_text()


def test_killed_curriculum_epoch_resumes_with_its_own_draw(tiny, tmp_path, monkeypatch):
    """A run killed inside a curriculum epoch resumes with the items that epoch drew (they
    depend on the weights at its start, which the resumed run no longer has) and ends with
    exactly the weights of an uninterrupted run."""
    from altsa.training import pipeline
    from altsa.training.checkpoint import load_tensors

    class Killed(Exception):
        pass

    cfg = tiny(epochs=3, extra=["train.curriculum=spcl", "train.teacher.batch_dialogues=1", "train.checkpoint_every=1",
                                "model.dropout=0.3"])
    ref = tmp_path / "ref"
    pipeline.train(cfg, out=ref, quiet=True)
    original = pipeline.teacher_stage

    def killing(*args, **kwargs):
        spec = original(*args, **kwargs)
        calls = {"n": 0}
        loss = spec.loss

        def counted(module, batch):
            calls["n"] += 1
            if calls["n"] > 6:  # epoch 2 (4 dialogues per epoch), its second batch
                raise Killed()
            return loss(module, batch)

        return dataclasses.replace(spec, loss=counted)

    monkeypatch.setattr(pipeline, "teacher_stage", killing)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        pipeline.train(cfg, out=out, quiet=True)
    state = json.loads((out / "checkpoints" / "teacher" / "last" / "state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 2 and len(state["subset"]) == 4
    monkeypatch.setattr(pipeline, "teacher_stage", original)
    pipeline.resume(out, quiet=True)
    a, b = load_tensors(out / "model.safetensors"), load_tensors(ref / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    got = json.loads((out / "metrics.json").read_text())["teacher"]["epochs"]
    want = json.loads((ref / "metrics.json").read_text())["teacher"]["epochs"]
    assert [r["curriculum_items"] for r in got] == [r["curriculum_items"] for r in want] == [4, 4, 4]
    assert [r["train_loss"] for r in got] == [r["train_loss"] for r in want]
