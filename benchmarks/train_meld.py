"""Train and score the shipped configs on MELD (dev split only: MELD test is held back).

``run``: train CONFIG once per seed (in this process, timed), then score each run on MELD
dev with ``altsa.evaluation.evaluate.evaluate_run`` (timed), and aggregate mean ± std.
``collect``: the same report for runs trained elsewhere (e.g. a long fine-tuning run started
in the background with ``altsa train``), with the time per epoch read from their metrics.

    python benchmarks/train_meld.py run --name frozen --config embedded-frozen --seeds 0,1,2 --threads 1
    python benchmarks/train_meld.py run --name frozen-balanced --config embedded-frozen --seeds 0 \
        --threads 1 -- train.class_weights=balanced
    python benchmarks/train_meld.py collect --name finetune --runs runs/embedded-finetune-s0
    python benchmarks/train_meld.py ablate --config embedded-frozen --threads 1

``ablate`` runs ``altsa ablate`` and stores its table in benchmarks/results/ablation_meld.md.

Every entry is stored in benchmarks/results/train_meld.json (with its command, machine and
date); benchmarks/results/train_meld.md is rewritten from all entries.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, SHARED_DATA, command, machine, set_threads, write_results  # noqa: E402

JSON = RESULTS / "train_meld.json"
MELD = SHARED_DATA / "meld"
# The shipped configs name no data (data.root is required); runs recorded here used this path,
# relative to the repository root the benchmarks run from.
DATA_ROOT = "../shared/data/meld"


def score(run_path: Path) -> tuple[dict, float]:
    from altsa.evaluation.evaluate import evaluate_run
    from altsa.training.run import load_run

    t0 = time.perf_counter()
    ev = evaluate_run(load_run(run_path), MELD, split="dev")
    return ev.metrics.to_dict(), time.perf_counter() - t0


def epochs_info(run_path: Path) -> dict:
    metrics = json.loads((run_path / "metrics.json").read_text(encoding="utf-8"))
    out = {}
    for stage in ("teacher", "students", "fusion"):
        if stage in metrics:
            rows = metrics[stage]["epochs"]
            out[stage] = {
                "epochs": len(rows),
                "best": metrics[stage]["best"],
                "seconds_per_epoch": round(sum(r["seconds"] for r in rows) / max(1, len(rows)), 1),
                "seconds": [round(r["seconds"]) for r in rows],
            }
    return out


def entry_for(name: str, config: str, overrides: list[str], runs: list[dict]) -> dict:
    from altsa.evaluation.metrics import Metrics, aggregate

    agg = aggregate([Metrics.from_dict(r["dev"]) for r in runs])
    return {
        "name": name,
        "config": config,
        "overrides": overrides,
        "runs": runs,
        "aggregate": agg,
        "command": command(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def cmd_run(args: argparse.Namespace) -> dict:
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.pipeline import resume, train

    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        cfg = load_config(ExperimentConfig, args.config, [f"data.root={args.data}", *args.overrides, f"seed={seed}"])
        out = Path(args.out) / f"{args.name}-s{seed}"
        t0 = time.perf_counter()
        if (out / "config.yaml").is_file():  # a killed benchmark continues its own runs, never others'
            from altsa.config import to_dict

            if to_dict(load_config(ExperimentConfig, out / "config.yaml")) != to_dict(cfg):
                raise SystemExit(f"{out} holds a run of another config; pass another --out")
            resume(out, quiet=True)
        else:
            train(cfg, out=out, quiet=True)
        train_s = time.perf_counter() - t0
        dev, eval_s = score(out)
        runs.append({"seed": seed, "run": str(out), "dev": dev, "train_seconds": round(train_s, 1),
                     "eval_seconds": round(eval_s, 1), "stages": epochs_info(out)})
        print(f"{args.name} seed {seed}: dev wF1 {dev['weighted_f1']:.2f} train {train_s:.0f}s eval {eval_s:.0f}s",
              flush=True)
    return entry_for(args.name, args.config, args.overrides, runs)


def cmd_collect(args: argparse.Namespace) -> dict:
    from altsa.config import load_config, to_dict
    from altsa.experiment import ExperimentConfig

    runs = []
    for path in [Path(p) for p in args.runs.split(",")]:
        cfg = load_config(ExperimentConfig, path / "config.yaml")
        dev, eval_s = score(path)
        info = epochs_info(path)
        total = sum(v["seconds_per_epoch"] * v["epochs"] for v in info.values())
        runs.append({"seed": cfg.seed, "run": str(path), "dev": dev, "train_seconds": round(total, 1),
                     "eval_seconds": round(eval_s, 1), "stages": info})
    return entry_for(args.name, to_dict(cfg)["name"], [], runs)


def cmd_ablate(args: argparse.Namespace) -> None:
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.ablate import ablate

    from _common import header  # noqa: E402

    cfg = load_config(ExperimentConfig, args.config, [f"data.root={args.data}", *args.overrides])
    out = Path(args.out) / f"{cfg.name}-ablation"
    t0 = time.perf_counter()
    ablate(cfg, out, quiet=True)
    table = (out / "ablation.md").read_text(encoding="utf-8")
    lines = header("Ablations on MELD (ours: dev; paper: test)",
                   caveat="MELD clips (MELD.Raw) are not on this machine: rows that need audio or video cannot run here")
    lines += [f"- wall time: {time.perf_counter() - t0:.0f} s for all rows", "", table]
    write_results("ablation_meld.md", lines)


def fmt(stats: dict) -> str:
    return f"{stats['mean']:.2f} ± {stats['std']:.2f}"


def render(entries: list[dict]) -> list[str]:
    lines = [
        "# Training on MELD (dev split)",
        "",
        "Weighted F1 is the headline (0-100), on MELD **dev** (1,109 utterances); MELD test is held",
        "back. Mean ± std (population std) over the seeds listed. Times are wall-clock seconds on",
        "the machine named per entry (its load average at start says whether other jobs shared it).",
        "",
        "| entry | config + overrides | seeds | dev wF1 | dev macro F1 | dev accuracy | train s (per seed) | eval s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        a = e["aggregate"]
        seeds = ",".join(str(r["seed"]) for r in e["runs"])
        train_s = "/".join(f"{r['train_seconds']:.0f}" for r in e["runs"])
        eval_s = "/".join(f"{r['eval_seconds']:.0f}" for r in e["runs"])
        cfg = e["config"] + ("" if not e["overrides"] else " " + " ".join(e["overrides"]))
        lines.append(f"| {e['name']} | `{cfg}` | {seeds} | {fmt(a['weighted_f1'])} | {fmt(a['macro_f1'])} | "
                     f"{fmt(a['accuracy'])} | {train_s} | {eval_s} |")
    labels = entries[0]["aggregate"]["labels"] if entries else []
    lines += ["", "## Per-class F1 (dev, mean over seeds)", "",
              "| entry | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for e in entries:
        pc = e["aggregate"]["per_class_f1"]
        lines.append(f"| {e['name']} | " + " | ".join(f"{pc[lab]['mean']:.1f}" for lab in labels) + " |")
    lines += ["", "## Per seed", "", "| entry | seed | dev wF1 | best epochs (stage: epoch) | seconds per epoch (teacher: each epoch) |",
              "|---|---|---|---|---|"]
    for e in entries:
        for r in e["runs"]:
            best = ", ".join(f"{s}: {next(iter(v['best'].values()))['epoch']}" for s, v in r["stages"].items()
                             if v["best"])
            per = "; ".join(f"{s}: " + ("/".join(str(x) for x in v["seconds"]) if s == "teacher" and len(v["seconds"]) < 6
                                        else f"{v['seconds_per_epoch']} avg") for s, v in r["stages"].items())
            lines.append(f"| {e['name']} | {r['seed']} | {r['dev']['weighted_f1']:.2f} | {best} | {per} |")
    lines += ["", "## Commands and machines", ""]
    for e in entries:
        note = f" Note: {e['note']}." if e.get("note") else ""
        lines.append(f"- **{e['name']}** ({e['date']}): `{e['command']}` on {e['machine']}.{note}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--name", required=True)
    run.add_argument("--config", required=True)
    run.add_argument("--seeds", default="0,1,2")
    run.add_argument("--out", default="runs/bench")
    run.add_argument("--threads", type=int, default=None)
    run.add_argument("--data", default=DATA_ROOT, help="folder of MELD's CSVs (data.root)")
    run.add_argument("overrides", nargs="*")
    abl = sub.add_parser("ablate")
    abl.add_argument("--config", required=True)
    abl.add_argument("--out", default="runs/bench")
    abl.add_argument("--threads", type=int, default=None)
    abl.add_argument("--data", default=DATA_ROOT, help="folder of MELD's CSVs (data.root)")
    abl.add_argument("overrides", nargs="*")
    col = sub.add_parser("collect")
    col.add_argument("--name", required=True)
    col.add_argument("--runs", required=True)
    col.add_argument("--threads", type=int, default=None)
    ren = sub.add_parser("render", help="rewrite train_meld.md from train_meld.json")
    ren.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    set_threads(args.threads)
    if args.cmd == "ablate":
        cmd_ablate(args)
        return
    data = json.loads(JSON.read_text(encoding="utf-8")) if JSON.is_file() else {}
    if args.cmd != "render":
        entry = cmd_run(args) if args.cmd == "run" else cmd_collect(args)
        data[entry["name"]] = entry
    from altsa.io import atomic_write_json

    atomic_write_json(JSON, data)
    write_results("train_meld.md", render(list(data.values())))


if __name__ == "__main__":
    main()
