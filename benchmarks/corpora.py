"""Cross-corpus benchmark: how each corpus reads (rows read, kept, skipped by reason) and what
the documented config route scores on it.

    python benchmarks/corpora.py                                   # every corpus present here
    python benchmarks/corpora.py --only meld
    python benchmarks/corpora.py --corpus emorynlp=emorynlp.yaml   # any corpus an experiment config describes

Corpora:

- ``meld``: the shipped ``embedded-frozen`` config on ../shared/data/meld (train, dev); dev scores.
- ``emodb``: EmoDB (../shared/data/emodb, 535 acted German utterances, 10 speakers) through the
  clips-CSV route of docs/data.md: its worked example ``speech.yaml``, read from the docs, on
  CSVs ``file,speaker,emotion`` written here (``text: none``, ``encoders.modalities: [audio]``,
  Whisper tiny.en). Split by speaker, 5 folds: each tests 2 speakers, picks epochs on 2 others
  (dev) and trains on the remaining 6. Beside it, a classic MFCC baseline on the same folds and
  training speakers (40 MFCCs, mean and standard deviation over the voiced span, standardised,
  logistic regression and an RBF SVM), and the same altsa route with the embedded librosa
  statistics encoder instead of Whisper.
- ``emodb-published``: the same clips through the published-folder route of docs/data.md: its
  worked example ``emodb.yaml``, read from the docs, labels from the file names
  (``data.name_pattern``), speakers 03-13 train, 14 dev, 15-16 test, epochs chosen on dev UAR.
- ``NAME=CONFIG``: an experiment config (a YAML path; ``base: embedded-frozen`` plus a data
  section is the documented route, docs/data.md) naming data.root and its splits: rows per
  split, one training run, dev scores (and test scores when data.splits has a test split).

Results: benchmarks/results/corpora.json (every entry, with command, machine and date) and
benchmarks/results/corpora.md (rewritten from all entries). Runs go under --out; features are
cached in --cache, so a rerun only retrains and rescores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, SHARED_DATA, command, machine, set_threads  # noqa: E402

JSON = RESULTS / "corpora.json"
EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "N": "neutral", "F": "happiness", "A": "fear", "T": "sadness",
                  "E": "disgust"}


def rows(cfg) -> dict:
    """Rows read / kept / skipped (by reason) of every split of the config."""
    from altsa.data.config import read_split, split_path

    out = {}
    for split in cfg.data.splits:
        corpus = read_split(cfg.data, split, check=False)
        out[split] = {"file": split_path(cfg.data, split), "dialogues": len(corpus.conversations), **corpus.counts()}
    return out


def train_and_score(cfg, out: Path, splits: list[str]) -> dict:
    """Train ``cfg`` into ``out`` (resumed if it is there) and score it on ``splits``."""
    from altsa.config import load_config, to_dict
    from altsa.evaluation.evaluate import evaluate_run
    from altsa.experiment import ExperimentConfig
    from altsa.training.pipeline import resume, train
    from altsa.training.run import load_run

    t0 = time.perf_counter()
    if (out / "model.safetensors").is_file():
        if to_dict(load_config(ExperimentConfig, out / "config.yaml")) != to_dict(cfg):
            raise SystemExit(f"{out} holds a run of another config; pass another --out")
    elif (out / "config.yaml").is_file():
        resume(out, quiet=True)
    else:
        train(cfg, out=out, quiet=True)
    seconds = time.perf_counter() - t0
    run = load_run(out)
    scores = {}
    for split in splits:
        ev = evaluate_run(run, Path(cfg.data.root), split=split)
        m = ev.metrics.to_dict()
        scores[split] = {"weighted_f1": m["weighted_f1"], "macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
                         "uar": round(m["uar"], 2), "n": m["n"]}
    return {"run": str(out), "train_seconds": round(seconds, 1), "scores": scores}


def config_entry(name: str, config: str, overrides: list[str], out: Path, cache: str) -> dict:
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig

    cfg = load_config(ExperimentConfig, config, [f"features.cache_dir={cache}", *overrides])
    counts = rows(cfg)
    scored = [s for s in ("dev", "test") if s in cfg.data.splits]
    result = train_and_score(cfg, out / name, scored)
    print(f"{name}: {json.dumps(result['scores'])}", flush=True)
    return {"name": name, "config": config, "overrides": overrides, "rows": counts, **result}


# -- EmoDB through the clips-CSV route, with the MFCC baseline --------------------------------------


def emodb_files(root: Path) -> list[Path]:
    files = sorted(root.glob("*.wav"))
    if not files:
        raise SystemExit(f"no EmoDB wavs in {root}")
    return files


def emodb_folds(files: list[Path]) -> list[dict[str, list[str]]]:
    """5 folds by speaker pair: test pair k, dev pair k+1, train the other 6 speakers."""
    speakers = sorted({f.name[:2] for f in files})
    pairs = [speakers[i : i + 2] for i in range(0, len(speakers), 2)]
    folds = []
    for k, test in enumerate(pairs):
        dev = pairs[(k + 1) % len(pairs)]
        train = [s for s in speakers if s not in test + dev]
        folds.append({"train": train, "dev": dev, "test": test})
    return folds


def write_emodb_csvs(files: list[Path], fold: dict[str, list[str]], folder: Path) -> None:
    """The clips CSVs of the docs' example for EmoDB: file (absolute path), speaker, emotion."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, speakers in fold.items():
        lines = ["file,speaker,emotion"]
        lines += [f"{f.resolve()},{f.name[:2]},{EMODB_EMOTIONS[f.name[5]]}" for f in files if f.name[:2] in speakers]
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def docs_example(name: str) -> str:
    """The config of a worked example in docs/data.md (the benchmark runs exactly what the docs
    show, as tests/cli/test_worked_examples.py does)."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text(encoding="utf-8")
    m = re.search(rf"<!-- example: {name} -->\s*```yaml\n(.*?)```", text, re.S)
    if m is None:
        raise SystemExit(f"docs/data.md has no worked example {name!r}")
    return m.group(1)


def mfcc_features(files: list[Path]):
    """Classic MFCC statistics: 40 coefficients, mean and std over the active (non-silent) span."""
    import librosa
    import numpy as np

    from altsa.data.media import MediaConfig, active_span, decode_audio

    cfg = MediaConfig()
    feats = []
    for f in files:
        wave = decode_audio(f, cfg)
        start, end = active_span(wave, cfg.sample_rate, cfg.silence_rms)
        wave = wave[start:end] if end > start else wave
        mfcc = librosa.feature.mfcc(y=wave, sr=cfg.sample_rate, n_mfcc=40, n_fft=512, hop_length=160)  # [40, T]
        feats.append(np.concatenate([mfcc.mean(1), mfcc.std(1)]))
    return np.stack(feats)  # [n, 80]


def mfcc_baseline(files: list[Path], folds: list[dict]) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x = mfcc_features(files)
    y = np.array([EMODB_EMOTIONS[f.name[5]] for f in files])
    spk = np.array([f.name[:2] for f in files])
    out = {}
    for name, make in (("mfcc-logreg", lambda: LogisticRegression(C=1.0, max_iter=5000)),
                       ("mfcc-svm", lambda: SVC(C=10.0, gamma="scale"))):
        per = []
        for fold in folds:
            tr, te = np.isin(spk, fold["train"]), np.isin(spk, fold["test"])
            clf = make_pipeline(StandardScaler(), make()).fit(x[tr], y[tr])
            pred = clf.predict(x[te])
            per.append({"weighted_f1": 100 * f1_score(y[te], pred, average="weighted"),
                        "macro_f1": 100 * f1_score(y[te], pred, average="macro"),
                        "accuracy": 100 * accuracy_score(y[te], pred),
                        "uar": 100 * balanced_accuracy_score(y[te], pred), "n": int(te.sum())})
        out[name] = per
    return out


def summary(per_fold: list[dict]) -> dict:
    import numpy as np

    keys = ("weighted_f1", "macro_f1", "accuracy", "uar")
    return {k: {"mean": round(float(np.mean([p[k] for p in per_fold])), 2),
                "std": round(float(np.std([p[k] for p in per_fold])), 2)} for k in keys}


LIBROSA = ["encoders.audio.kind=embedded-audio-librosa", "encoders.audio.model=librosa", "encoders.audio.options={}"]


def emodb_entry(root: Path, out: Path, cache: str, variants: dict[str, list[str]]) -> dict:
    """Every altsa variant (name -> overrides of the clips-CSV config) on the 5 folds; test
    scores are what the table reports, dev scores (the fold's epoch-choice speakers) are kept
    beside them so that settings are compared on dev, never on test."""
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig

    files = emodb_files(root)
    folds = emodb_folds(files)
    systems: dict[str, list[dict]] = {}
    dev: dict[str, list[dict]] = {}
    counts = None
    for name, over in variants.items():
        per, per_dev = [], []
        for k, fold in enumerate(folds):
            folder = out / "emodb-data" / f"fold{k}"
            write_emodb_csvs(files, fold, folder)
            path = folder / "speech.yaml"
            path.write_text(docs_example("speech"), encoding="utf-8")
            cfg = load_config(ExperimentConfig, path, [f"name=emodb-{name}-f{k}", f"data.root={folder}",
                                                       f"features.cache_dir={cache}", *over])
            if counts is None:
                counts = {f"fold0 {s}": v for s, v in rows(cfg).items()}
            result = train_and_score(cfg, out / f"emodb-{name}-f{k}", ["dev", "test"])
            per.append(result["scores"]["test"] | {"train_seconds": result["train_seconds"]})
            per_dev.append(result["scores"]["dev"])
            print(f"emodb {name} fold {k} (test {'+'.join(fold['test'])}): test {per[-1]} dev {per_dev[-1]}",
                  flush=True)
        systems[f"altsa-{name}"] = per
        dev[f"altsa-{name}"] = per_dev
    t0 = time.perf_counter()
    systems.update(mfcc_baseline(files, folds))
    print(f"mfcc baselines in {time.perf_counter() - t0:.0f} s", flush=True)
    return {"name": "emodb", "config": "speech.yaml of docs/data.md (worked example: a CSV of labelled clips)",
            "overrides": [], "rows": counts, "folds": folds, "variants": variants,
            "systems": {k: {"folds": v, **summary(v), "dev": summary(dev[k]) if k in dev else None}
                        for k, v in systems.items()}}


# -- results ---------------------------------------------------------------------------------------


def render(entries: list[dict]) -> list[str]:
    lines = ["# Corpora: rows read / kept / skipped, and scores through the documented config route", "",
             "Every entry comes from `python benchmarks/corpora.py ...` (its exact command, machine and date are",
             "listed under it). MELD's test split is not on this machine: MELD scores are on **dev**.", ""]
    lines += ["## Rows", "", "| corpus | split | file | read | kept | skipped (by reason) |", "|---|---|---|---|---|---|"]
    for e in entries:
        for split, r in (e.get("rows") or {}).items():
            why = ", ".join(f"{k} {v}" for k, v in r["skipped_by_reason"].items()) or "-"
            shown = " + ".join(Path(f).name for f in r["file"].split(" + "))  # every entry of the split
            lines.append(f"| {e['name']} | {split} | `{shown}` | {r['read']:,} | {r['kept']:,} | "
                         f"{r['skipped']:,} ({why}) |")
    lines += ["", "## Scores", ""]
    for e in entries:
        if "systems" in e:
            lines += [f"### {e['name']}: 5 speaker folds (test 2 speakers, dev 2, train 6), mean ± std over folds", "",
                      "| system | test weighted F1 | test macro F1 | test accuracy | test UAR | dev UAR |",
                      "|---|---|---|---|---|---|"]
            for name, s in e["systems"].items():
                dev = f"{s['dev']['uar']['mean']:.2f}" if s.get("dev") else "-"
                lines.append(f"| {name} | " + " | ".join(f"{s[k]['mean']:.2f} ± {s[k]['std']:.2f}"
                                                           for k in ("weighted_f1", "macro_f1", "accuracy", "uar"))
                             + f" | {dev} |")
            lines.append("")
            for name, over in (e.get("variants") or {}).items():
                lines.append(f"- `altsa-{name}`: {' '.join(over) or 'speech.yaml as in docs/data.md'}")
            lines.append("- `mfcc-*`: 40 MFCCs, mean and std over the voiced span, standardised; trained on the fold's "
                         "6 training speakers")
        else:
            lines += [f"### {e['name']} (`{e['config']}`{' ' + ' '.join(e['overrides']) if e['overrides'] else ''})", "",
                      "| split | n | weighted F1 | macro F1 | accuracy | UAR |", "|---|---|---|---|---|---|"]
            for split, s in e["scores"].items():
                lines.append(f"| {split} | {s['n']} | {s['weighted_f1']:.2f} | {s['macro_f1']:.2f} | "
                             f"{s['accuracy']:.2f} | {s['uar']:.2f} |")
            lines.append(f"\nTraining: {e['train_seconds']:.0f} s (run `{e['run']}`).")
        lines += ["", f"- command: `{e['command']}`", f"- machine: {e['machine']}", f"- date: {e['date']}", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", default=[], metavar="NAME=CONFIG",
                    help="a corpus an experiment config describes (repeatable)")
    ap.add_argument("--only", default=None, help="comma-separated corpus names to run (default: all present)")
    ap.add_argument("--meld", default=str(SHARED_DATA / "meld"), help="folder of MELD's CSVs")
    ap.add_argument("--emodb", default=str(SHARED_DATA / "emodb"), help="folder of EmoDB's wavs")
    ap.add_argument("--emodb-variant", action="append", default=[], metavar="NAME=KEY=VALUE,...",
                    help="an altsa variant on EmoDB: overrides of the clips-CSV config (repeatable; default: "
                         "whisper (the config as documented), whisper-no-input-norm, librosa (the librosa "
                         "statistics encoder))")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-corpora"))
    ap.add_argument("--cache", default=".altsa-cache")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    set_threads(args.threads)
    stamp = {"command": command(), "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    only = set(args.only.split(",")) if args.only else None
    todo = []
    if Path(args.meld, "dev_sent_emo.csv").is_file():
        todo.append(("meld", lambda: config_entry("meld", "embedded-frozen", [f"data.root={args.meld}"], args.out,
                                                  args.cache)))
    if list(Path(args.emodb).glob("*.wav")):
        variants = {"whisper": [], "whisper-no-input-norm": ["model.input_norm=none"], "librosa": LIBROSA}
        if args.emodb_variant:
            variants = {}
            for spec in args.emodb_variant:
                name, _, over = spec.partition("=")
                variants[name] = LIBROSA if over == "librosa" else [o for o in over.split(",") if o]
        todo.append(("emodb", lambda: emodb_entry(Path(args.emodb), args.out.resolve(), args.cache, variants)))

        def published() -> dict:
            path = args.out.resolve() / "emodb-published.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(docs_example("emodb"), encoding="utf-8")
            return config_entry("emodb-published", str(path), [f"data.root={args.emodb}"], args.out, args.cache)

        todo.append(("emodb-published", published))
    for spec in args.corpus:
        name, _, config = spec.partition("=")
        if not config:
            raise SystemExit(f"--corpus {spec!r}: expected NAME=CONFIG")
        todo.append((name, lambda name=name, config=config: config_entry(name, config, [], args.out, args.cache)))
    entries = json.loads(JSON.read_text(encoding="utf-8")) if JSON.is_file() else []
    for name, run in todo:
        if only is not None and name not in only:
            continue
        entry = {**run(), **stamp}
        entries = [e for e in entries if e["name"] != name] + [entry]
        from altsa.io import atomic_write_json, atomic_write_text

        atomic_write_json(JSON, entries)
        atomic_write_text(RESULTS / "corpora.md", "\n".join(render(entries)).rstrip() + "\n")
    print((RESULTS / "corpora.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
