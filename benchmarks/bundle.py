"""Copy a trained run into the package as a bundled model, scored through the inference path.

    python benchmarks/bundle.py runs/acc-s1 meld-text-accurate
    python benchmarks/bundle.py runs/min-s0 meld-text-minilm --distill-from meld-text-accurate

Writes ``src/altsa/bundled/NAME/``: ``config.yaml`` (name set; ``train.distill_from`` set to the
given teacher(s), so the recipe names what a user has), ``labels.json``,
``model.safetensors``, ``text-adapter/`` (when the run has one) and ``metrics.json``: the
run's training metrics (split files by name only), with ``final`` replaced by MELD dev scored through
``Recognizer.predict_corpus`` on float32 inference (``final_training``: the figure training
recorded on its cached vectors) and ``check``: the labels and probabilities of the first
dev dialogues, which ``tests/inference/test_bundled.py`` compares against the assembled model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHARED_DATA  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "altsa" / "bundled"
CHECK_DIALOGUES = 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--distill-from", nargs="+", default=None,
                    help="the teacher(s) named in the shipped config: a bundled model, or the runs of the recipe")
    args = ap.parse_args()

    import yaml

    from altsa.data.readers import read_corpus
    from altsa.evaluation.metrics import compute_metrics
    from altsa.inference import Recognizer

    out = BUNDLED / args.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = yaml.safe_load((args.run / "config.yaml").read_text(encoding="utf-8"))
    config["name"] = args.name
    # no paths of the machine that trained it: a user's config names its own data and cache
    config["data"]["root"] = None
    config.setdefault("features", {})["cache_dir"] = ".altsa-cache"
    if args.distill_from:
        teachers = args.distill_from
        config["train"]["distill_from"] = teachers[0] if len(teachers) == 1 else teachers
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for f in ("labels.json", "model.safetensors"):
        shutil.copyfile(args.run / f, out / f)
    if (args.run / "text-adapter").is_dir():
        (out / "text-adapter").mkdir()
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copyfile(args.run / "text-adapter" / f, out / "text-adapter" / f)
    metrics = json.loads((args.run / "metrics.json").read_text(encoding="utf-8"))
    for counts in metrics.get("data", {}).values():  # the split files by name, like data.root above
        counts["file"] = Path(counts["file"]).name

    t0 = time.perf_counter()
    rec = Recognizer.from_pretrained(args.name)
    corpus = read_corpus(SHARED_DATA / "meld" / "dev_sent_emo.csv")
    preds = rec.predict_corpus(corpus)
    gold = [u.labels["emotion"] for u in corpus.utterances()]
    labels = list(rec.labels)
    final = compute_metrics([labels.index(g) for g in gold], [labels.index(p.label) for p in preds], labels)
    metrics["final_training"] = metrics.get("final")
    metrics["final"] = {"split": "dev", "path": "inference (Recognizer.predict_corpus, float32)", **final.to_dict()}
    n = sum(len(c.utterances) for c in corpus.conversations[:CHECK_DIALOGUES])
    metrics["check"] = {"dialogues": CHECK_DIALOGUES, "labels": [p.label for p in preds[:n]],
                        "probabilities": [[round(p.probabilities[k], 6) for k in labels] for p in preds[:n]]}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"{args.name}: dev wF1 {final.weighted_f1:.2f} macro {final.macro_f1:.2f} (inference path, "
          f"{time.perf_counter() - t0:.0f} s); training recorded {metrics['final_training']['weighted_f1']:.2f}")


if __name__ == "__main__":
    main()
