"""``altsa train`` / ``evaluate`` / ``ablate`` through the command line, on the synthetic
corpus (generated clips, tiny random encoders): real stages, real metrics, real reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from altsa.cli.main import main


@pytest.fixture(scope="module")
def overrides(synthetic):
    from altsa.training.synthetic import tiny_overrides

    return tiny_overrides(synthetic["corpus"], synthetic["models"], synthetic["cache"], preset="embedded")


@pytest.fixture(scope="module")
def runs(overrides, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-runs")
    for seed in (0, 1):
        assert main(["train", "embedded-frozen", "--out", str(root / f"s{seed}"), "--quiet", f"seed={seed}",
                     *overrides]) == 0
    return root / "s0", root / "s1"


def test_train_prints_dev_f1(runs, capsys):
    assert (runs[0] / "model.safetensors").is_file()
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["fusion"]["epochs"][0]["dev_fusion"] >= 0.0


def test_evaluate_json(runs, synthetic, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(runs[0]), "--data", str(synthetic["corpus"] / "dev.jsonl"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("weighted_f1", "macro_f1", "accuracy"):
        assert 0.0 <= out[key] <= 100.0
    assert set(out["per_class_f1"]) == {"anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"}
    dev_lines = (synthetic["corpus"] / "dev.jsonl").read_text().splitlines()
    assert out["n"] == sum(len(json.loads(line)["utterances"]) for line in dev_lines)
    report = runs[0] / "eval" / "dev"
    for name in ("report.md", "metrics.json", "confusion.json"):
        assert (report / name).is_file(), name
    # the train-time dev score and the evaluate score are one computation on one model
    final = json.loads((runs[0] / "metrics.json").read_text())["final"]
    assert out["weighted_f1"] == pytest.approx(final["weighted_f1"])


def test_evaluate_folder_and_seeds(runs, synthetic, capsys, tmp_path):
    capsys.readouterr()
    code = main(["evaluate", str(runs[0]), "--seeds", str(runs[1]), "--data", str(synthetic["corpus"]),
                 "--split", "dev", "--json", "--out", str(tmp_path / "eval")])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    agg = out["aggregate"]
    assert agg["runs"] == 2
    values = agg["weighted_f1"]["values"]
    assert out["weighted_f1"] == pytest.approx(sum(values) / 2)
    assert out["std"]["weighted_f1"] == pytest.approx(abs(values[0] - values[1]) / 2)
    assert (tmp_path / "eval" / "seeds.md").is_file() and (tmp_path / "eval" / "run2" / "report.md").is_file()
    assert main(["evaluate", str(runs[0]), "--data", str(synthetic["corpus"]), "--split", "dev",
                 "--out", str(tmp_path / "table")]) == 0
    shown = capsys.readouterr().out
    assert "weighted F1" in shown and "| UAR " in shown and "precision" in shown


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "embedded-frozen", "--stage", "nope"], "--stage"),
        (["train", "embedded-frozen", "model.nope=1"], "nope"),
        (["train"], "CONFIG"),
        (["train", "--resume", "/nonexistent/run"], "not a run directory"),
        (["evaluate", "/nonexistent/run", "--data", "x.csv"], "no run directory"),
        (["ablate", "embedded-frozen", "--rows", "nope", "--out", "/tmp/altsa-ablate-bad"], "unknown ablation row"),
        (["train", "embedded-frozen", "--device", "tpu", "--out", "/tmp/altsa-bad-device"], "--device"),
        (["train", "--resume", "/nonexistent/run", "--allow-missing-media"], "--allow-missing-media"),
    ],
)
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


@pytest.mark.slow
def test_ablate_runs_every_row_on_generated_data(synthetic, tmp_path, capsys):
    from altsa.training.ablate import ROWS
    from altsa.training.synthetic import tiny_overrides

    extra = tiny_overrides(synthetic["corpus"], synthetic["models"], synthetic["cache"], preset="embedded")
    assert main(["ablate", "embedded-frozen", "--out", str(tmp_path), "--quiet", "--share-teacher", *extra]) == 0
    results = {r["row"]: r for r in json.loads((tmp_path / "ablation.json").read_text())}
    assert set(results) == {r.name for r in ROWS}
    for row in ROWS:
        assert results[row.name].get("dev_wf1") is not None, (row.name, results[row.name].get("note"))
    table = (tmp_path / "ablation.md").read_text()
    for row in ROWS:
        assert row.title in table
    assert "68.88" in table and "33.73" in table and "dev" in table
    no_audio = json.loads((tmp_path / "no-audio" / "metrics.json").read_text())
    assert no_audio["fused_modalities"] == ["text", "video"]
    audio_only = json.loads((tmp_path / "audio-only" / "metrics.json").read_text())
    assert audio_only["fused_modalities"] == ["audio"] and audio_only["students_trained"] == ["audio"]
    assert_true_ablations(tmp_path, results)


def assert_true_ablations(out: Path, results: dict) -> None:
    """Each row encoded and trained only what it needs, shared the first row's teacher, and
    the modalities it drops provably do not move its logits."""
    from altsa.model import MODALITIES
    from altsa.training.ablate import ROWS
    from altsa.training.run import load_run

    first = next(r.name for r in ROWS if r.name in results)
    for row in ROWS:
        if row.name not in results:
            continue
        r = results[row.name]
        assert r["fused"] == [m for m in MODALITIES if m in row.needs], row.name
        distils = row.name != "no-distill" and any(m in row.needs for m in ("audio", "video"))
        encoded = set(row.needs) | ({"text"} if distils else set())
        assert set(r["encoders"]) == encoded, row.name  # nothing else is even encoded
        assert sorted(r["students_trained"] or []) == sorted(m for m in ("audio", "video") if m in row.needs)
        metrics = json.loads((out / row.name / "metrics.json").read_text())
        if row.name != first:
            assert metrics["teacher_shared_from"] == str((out / first).resolve()), row.name
            assert r["encoders"]["text"]["encoder"].startswith("shared from"), row.name
        run = load_run(out / row.name)
        dims = run.model.dims
        g = torch.Generator().manual_seed(0)
        x = {m: torch.randn(2, 5, d, generator=g) for m, d in dims.items()}
        base = run.model(**x)["logits"]
        for m in dims:
            y = {**x, m: torch.randn(2, 5, dims[m], generator=g) * 10}
            moved = not torch.allclose(run.model(**y)["logits"], base)
            assert moved == (m in row.needs), (row.name, m)


@pytest.mark.slow
def test_ablate_paper_rows_are_true_ablations(synthetic, tmp_path):
    """The tiny paper run (students fine-tuned end to end on a generated MELD.Raw tree), ablated
    with one shared teacher: each row's dropped modalities provably do not move its logits."""
    from altsa.training.synthetic import make_meld_tree, tiny_overrides

    tree = make_meld_tree(tmp_path / "MELD.Raw", {"train": 6, "dev": 3})
    extra = tiny_overrides(tree, synthetic["models"], tmp_path / "cache", preset="paper", text_mode=None) + [
        "data.corpus=meld", f"data.root={tree}", f"data.clips={tree}",
        "data.splits={train: train_sent_emo.csv, dev: dev_sent_emo.csv}",
    ]
    out = tmp_path / "ablation"
    assert main(["ablate", "paper", "--out", str(out), "--rows", "full,no-video,audio-only", "--share-teacher",
                 "--quiet", *extra]) == 0
    results = {r["row"]: r for r in json.loads((out / "ablation.json").read_text())}
    assert all(r.get("dev_wf1") is not None for r in results.values()), results
    assert results["no-video"]["encoders"]["audio"]["encoder"] == "fine-tuned here"
    assert (out / "no-video" / "audio-encoder").is_dir() and not (out / "no-video" / "video-encoder").exists()
    assert not (out / "audio-only" / "text-encoder").exists()  # the shared teacher is read in place
    assert_true_ablations(out, results)


def test_seeds_leaving_different_labels_out_of_micro_f1_fail_before_scoring(runs, synthetic, capsys, tmp_path):
    import shutil

    import yaml

    other = tmp_path / "s1-neutral"
    shutil.copytree(runs[1], other, ignore=shutil.ignore_patterns("eval"))
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["metrics"] = {"select_on": "weighted_f1", "micro_f1_excludes": ["neutral"]}
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    cache = tmp_path / "fresh-cache"  # scoring a run would extract its features into it
    code = main(["evaluate", str(runs[0]), "--seeds", str(other), "--data", str(synthetic["corpus"]), "--split", "dev",
                 "--out", str(tmp_path / "eval"), "--cache", str(cache)])
    err = capsys.readouterr().err
    assert code == 2 and "leave different labels out of micro F1" in err and "--micro-f1-excludes" in err
    assert not cache.exists()  # refused before any run was scored
    assert main(["evaluate", str(runs[0]), "--seeds", str(other), "--data", str(synthetic["corpus"]), "--split", "dev",
                 "--micro-f1-excludes", "neutral", "--json", "--out", str(tmp_path / "eval2")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["micro_f1_excludes"] == ["neutral"] and len(out["aggregate"]["micro_f1"]["values"]) == 2


def test_evaluate_bootstrap_intervals(runs, synthetic, capsys, tmp_path):
    capsys.readouterr()
    dev = synthetic["corpus"] / "dev.jsonl"
    assert main(["evaluate", str(runs[0]), "--data", str(dev), "--bootstrap", "200", "--json",
                 "--out", str(tmp_path / "e")]) == 0
    out = json.loads(capsys.readouterr().out)
    iv = out["intervals"]
    assert (iv["samples"], iv["seed"], iv["level"], iv["unit"]) == (200, 0, 0.95, "conversation")
    assert iv["conversations"] == len(dev.read_text().splitlines())
    for key in ("weighted_f1", "macro_f1", "accuracy", "uar"):
        assert 0.0 <= iv[key][0] <= iv[key][1] <= 100.0, key
    assert set(iv["per_class_f1"]) == set(out["per_class_f1"])
    report = (tmp_path / "e" / "report.md").read_text()
    assert "Intervals: the central 95 % of 200 bootstrap resamples" in report and "| F1 95 % interval |" in report
    saved = json.loads((tmp_path / "e" / "metrics.json").read_text())["intervals"]
    assert saved["weighted_f1"] == iv["weighted_f1"] and saved["per_class_f1"] == iv["per_class_f1"]
    assert main(["evaluate", str(runs[0]), "--data", str(dev), "--bootstrap", "200", "--json",
                 "--out", str(tmp_path / "e2")]) == 0
    assert json.loads(capsys.readouterr().out)["intervals"] == iv  # seed 0: the same resamples
    assert main(["evaluate", str(runs[0]), "--data", str(dev), "--bootstrap", "-1"]) == 2  # a usage error
    assert main(["evaluate", str(runs[0]), "--data", str(dev), "--bootstrap", "50"]) == 2  # too few to mean much
    assert "100 resamples or more" in capsys.readouterr().err


def test_compare_two_runs_paired(runs, synthetic, capsys, tmp_path):
    capsys.readouterr()
    dev = synthetic["corpus"] / "dev.jsonl"
    assert main(["compare", str(runs[0]), str(runs[1]), "--data", str(dev), "--bootstrap", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 300 and out["conversations"] == len(dev.read_text().splitlines())
    assert out["rows"]["kept"] == out["n"] and out["micro_f1_excludes"] == []
    for run, side in ((runs[0], "a"), (runs[1], "b")):  # each side's figure is its run's own dev score
        final = json.loads((run / "metrics.json").read_text())["final"]
        assert out["weighted_f1"][side] == pytest.approx(final["weighted_f1"])
    w = out["weighted_f1"]
    assert w["difference"] == pytest.approx(w["a"] - w["b"]) and 0.0 <= w["p_a_not_better"] <= 1.0
    assert main(["compare", str(runs[0]), str(runs[0]), "--data", str(dev), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)["weighted_f1"]
    assert same["interval"] == [0.0, 0.0] and same["p_a_not_better"] == 1.0
    assert main(["compare", str(runs[0]), str(runs[1]), "--data", str(dev)]) == 0
    shown = capsys.readouterr().out
    assert "P(A not better)" in shown and "kept" in shown  # what was read, then the table


def test_compare_refuses_runs_of_other_labels_before_scoring(runs, synthetic, capsys, tmp_path):
    import shutil

    other = tmp_path / "relabelled"
    shutil.copytree(runs[1], other, ignore=shutil.ignore_patterns("eval"))
    labels = json.loads((other / "labels.json").read_text())
    labels["labels"] = [lab.upper() for lab in labels["labels"]]
    (other / "labels.json").write_text(json.dumps(labels))
    capsys.readouterr()
    cache = tmp_path / "fresh-cache"
    code = main(["compare", str(runs[0]), str(other), "--data", str(synthetic["corpus"] / "dev.jsonl"),
                 "--cache", str(cache)])
    assert code == 2 and "only runs of one label set compare" in capsys.readouterr().err
    assert not cache.exists()  # nothing was scored
