"""The number every stage picks its epoch by (spec 4: dev weighted F1 unless
``metrics.select_on`` names another figure), pinned by hand."""

from __future__ import annotations

import json
import math

import pytest
import torch

from altsa.errors import ConfigError
from altsa.evaluation.metrics import Selection
from altsa.losses import IGNORE
from altsa.training.pipeline import train
from altsa.training.predict import dev_score


def _logits(preds: list[int], classes: int = 3) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(preds), classes).float()


LABELS = torch.tensor([0, 0, 0, 1, 1, 2, IGNORE, 2])
LOGITS = _logits([0, 0, 1, 1, 0, 2, 1, 0])
KEEP = torch.tensor([True] * 7 + [False])  # the last row (a miss) is not scored
# scored: y 0 0 0 1 1 2, p 0 0 1 1 0 2. class 0: P 2/3 R 2/3; class 1: P 1/2 R 1/2; class 2: P 1 R 1


def test_weighted_f1_is_support_weighted_over_labelled_kept_rows():
    want = 100 * (3 * (2 / 3) + 2 * 0.5 + 1 * 1.0) / 6  # 66.67 (macro F1 would be 72.22)
    assert dev_score(LABELS, LOGITS, KEEP) == pytest.approx(want)


def test_every_selectable_figure_by_hand():
    # 4 classes: class 3 never occurs nor is predicted; macro F1 counts it (0), UAR does not
    logits = _logits([0, 0, 1, 1, 0, 2, 1, 0], classes=4)
    assert dev_score(LABELS, logits, KEEP, Selection("macro_f1")) == pytest.approx(100 * (2 / 3 + 0.5 + 1) / 4)
    assert dev_score(LABELS, logits, KEEP, Selection("accuracy")) == pytest.approx(100 * 4 / 6)
    assert dev_score(LABELS, logits, KEEP, Selection("uar")) == pytest.approx(100 * (2 / 3 + 0.5 + 1) / 3)
    # without class 0: TP 2 (rows 3, 5), predicted 1 or 2: 3 rows (2, 3, 5), true 1 or 2: 3 rows -> F1 2/3
    assert dev_score(LABELS, logits, KEEP, Selection("micro_f1", (0,))) == pytest.approx(100 * 2 / 3)
    # without class 1: TP 3 (rows 0, 1, 5), predicted 0 or 2: 4 rows, true 0 or 2: 4 rows -> 3/4
    assert dev_score(LABELS, logits, KEEP, Selection("micro_f1", (1,))) == pytest.approx(75.0)


def test_no_labelled_row_gives_nan():
    assert math.isnan(dev_score(torch.tensor([IGNORE, IGNORE]), _logits([0, 1])))


def test_a_stage_keeps_the_epoch_of_the_configured_figure(tiny, tmp_path):
    """The run's final model is the fusion stage's best epoch, so its dev UAR is the score
    the stage kept it by; every epoch's row holds that figure."""
    cfg = tiny(modalities=("text",), extra=["metrics.select_on=uar", "train.fusion.epochs=3",
                                            "metrics.micro_f1_excludes=[neutral]"])
    out = tmp_path / "uar"
    summary = train(cfg, out=out, quiet=True)
    metrics = json.loads((out / "metrics.json").read_text())
    final = metrics["final"]
    assert final["select_on"] == "uar" and summary["dev"]["uar"] == pytest.approx(final["uar"])
    best = metrics["fusion"]["best"]["fusion"]
    assert best["score"] == pytest.approx(final["uar"], abs=1e-6)
    rows = metrics["fusion"]["epochs"]
    scores = [r["dev_fusion"] for r in rows]
    assert best["epoch"] == scores.index(max(scores)) + 1  # the first epoch of the highest figure
    assert final["micro_f1_excludes"] == ["neutral"] and final["micro_f1"] is not None


def _uar(labels, logits, keep) -> float:
    """UAR by hand: per-class recall over the labelled kept rows, averaged over classes present."""
    import numpy as np

    sel = (labels != IGNORE) & keep
    y, p = labels[sel].numpy(), logits[sel].argmax(-1).numpy()
    return 100 * float(np.mean([(p[y == c] == c).mean() for c in np.unique(y)]))


def test_teacher_and_student_stages_keep_their_epochs_by_it_too(tiny, tmp_path):
    """Each branch of the finished model is its stage's best epoch, so its dev UAR is the score
    the stage recorded (weighted F1 there would be another number)."""
    from altsa.training.pipeline import Trainer
    from altsa.training.predict import predict_split
    from altsa.training.run import load_run

    cfg = tiny(extra=["metrics.select_on=uar", "train.teacher.epochs=2", "train.students.epochs=2"])
    out = tmp_path / "uar3"
    train(cfg, out=out, quiet=True)
    metrics = json.loads((out / "metrics.json").read_text())
    trainer = Trainer(cfg, tmp_path / "again", quiet=True, progress=False)
    trainer.prepare()
    _, dev = trainer.splits()
    p = predict_split(load_run(out).model, dev)
    assert metrics["teacher"]["best"]["text"]["score"] == pytest.approx(_uar(p.labels, p.z["text"], p.present[:, 0]))
    for k, m in ((1, "audio"), (2, "video")):
        assert metrics["students"]["best"][m]["score"] == pytest.approx(_uar(p.labels, p.z[m], p.present[:, k]))
    wf1 = dev_score(p.labels, p.z["text"], p.present[:, 0])
    assert wf1 != pytest.approx(metrics["teacher"]["best"]["text"]["score"])  # the two figures differ here


def test_a_run_continues_only_with_the_figure_it_chose_by(tiny, tmp_path):
    cfg = tiny(modalities=("text",))
    out = tmp_path / "wf1"
    train(cfg, out=out, quiet=True, stage="teacher")
    with pytest.raises(ConfigError, match="different metrics config"):
        train(tiny(modalities=("text",), extra=["metrics.select_on=uar"]), out=out, quiet=True, stage="fusion")


@pytest.mark.parametrize(("extra", "pattern"), [
    (["metrics.select_on=f1"], "metrics.select_on 'f1': one of weighted_f1, macro_f1"),
    (["metrics.micro_f1_excludes=[calm]"], "'calm' is not a label of the set"),
    (["metrics.select_on=micro_f1"], "metrics.select_on micro_f1 needs labels in micro_f1_excludes"),
])
def test_a_figure_that_cannot_be_taken_stops_the_run_before_training(tiny, tmp_path, extra, pattern):
    with pytest.raises(ConfigError, match=pattern):
        train(tiny(modalities=("text",), extra=extra), out=tmp_path / "bad", quiet=True)
    assert not (tmp_path / "bad" / "checkpoints").exists()
