"""Embedded audio encoders on real emotional speech: EmoDB, split by speaker.

Each candidate encoder turns the 535 EmoDB utterances (7 emotions, 10 speakers) into
vectors; a standardized logistic regression is trained on 8 speakers and tested on the
other 2, rotating over 5 folds. Reports accuracy and unweighted average recall (UAR,
sklearn balanced accuracy), mean +- std over the folds; chance is about 0.14 (UAR) and
0.24 (accuracy: always "anger"). Also the time per clip of decoding and encoding.

    python benchmarks/audio_emodb.py --encoders whisper-tiny.en,whisper-base,librosa \
        --threads 1 --out benchmarks/results/audio_emodb
    python benchmarks/audio_emodb.py --encoders whisper-tiny.en@30s,whisper-tiny.en   # 30 s padding vs clip frames

Features are kept in --cache (npz per encoder), so a rerun only re-scores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from altsa.data.media import Absent, MediaConfig, decode_audio, summarize
import altsa.encoders.embedded_audio  # noqa: F401  (registers the embedded-audio-* kinds)
from altsa.encoders.base import EncoderConfig, build_encoder
from _common import command as run_command, machine  # benchmarks/_common.py: CPU, cores, RAM, load, torch threads
from altsa.io import atomic_write_json, atomic_write_text

EMOTIONS = {"W": "anger", "L": "boredom", "N": "neutral", "F": "happiness", "A": "fear", "T": "sadness", "E": "disgust"}
ROOT = Path(__file__).resolve().parents[1]


def speaker_folds(speakers: list[str], per_fold: int = 2) -> list[list[str]]:
    order = sorted(set(speakers))
    return [order[i : i + per_fold] for i in range(0, len(order), per_fold)]


def evaluate(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, c: float = 1.0) -> dict:
    accs, uars = [], []
    for test in speaker_folds(list(speakers)):
        te = np.isin(speakers, test)
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
        clf.fit(x[~te], y[~te])
        pred = clf.predict(x[te])
        accs.append(accuracy_score(y[te], pred))
        uars.append(balanced_accuracy_score(y[te], pred))
    return {
        "accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
        "uar": float(np.mean(uars)), "uar_std": float(np.std(uars)),
        "folds_uar": [round(u, 4) for u in uars],
    }  # fmt: skip


def encoder_config(name: str) -> EncoderConfig:
    """``whisper-MODEL`` (clip frames only, the default), ``whisper-MODEL@30s`` (every clip
    padded to Whisper's 30 s window, the first path), ``librosa``."""
    if name.startswith("whisper-"):
        model, _, window = name.removeprefix("whisper-").partition("@")
        return EncoderConfig(kind="embedded-audio-whisper", model=model, media=MediaConfig(),
                             options={"window": window or "clip"})
    if name == "librosa":
        return EncoderConfig(kind="embedded-audio-librosa", model="librosa", media=MediaConfig())
    raise SystemExit(f"unknown encoder {name!r}")


def features(name: str, files: list[Path], waves: list, cache: Path, batch: int) -> tuple[np.ndarray, dict]:
    """[n, variants..., d] features and timings; cached by encoder name and file list."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"emodb-{name}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        if list(z["files"]) == [f.name for f in files]:
            return z["x"], json.loads(str(z["timing"]))
    t0 = time.perf_counter()
    encoder = build_encoder(encoder_config(name))
    load_s = time.perf_counter() - t0
    encode = getattr(encoder, "encode_layers", encoder.encode)
    encode(waves[:1])  # warm-up (lazy imports, numba compilation) outside the timing
    t0 = time.perf_counter()
    parts = [encode(waves[i : i + batch]).numpy() for i in range(0, len(waves), batch)]
    per_clip = (time.perf_counter() - t0) / len(waves)
    x = np.concatenate(parts)
    timing = {"load_s": round(load_s, 2), "encode_s_per_clip": round(per_clip, 4), "dim": int(encoder.dim), "fingerprint": encoder.fingerprint}
    np.savez(path, x=x, files=np.array([f.name for f in files]), timing=json.dumps(timing))
    return x, timing


def timing_only(args, files: list[Path], waves: list, cfg: MediaConfig) -> None:
    """Wall-clock and CPU time per clip of each encoder on the first ``--timing`` clips
    (CPU time is less disturbed by other jobs on a shared machine)."""
    waves = waves[: args.timing]
    seconds = sum(w.size for w in waves) / cfg.sample_rate / len(waves)
    rows = []
    for name in args.encoders.split(","):
        encoder = build_encoder(encoder_config(name))
        encoder.encode(waves[:1])
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(waves), args.batch):
            encoder.encode(waves[i : i + args.batch])
        wall, cpu = (time.perf_counter() - wall) / len(waves), (time.process_time() - cpu) / len(waves)
        rows.append({"encoder": name, "wall_ms_per_clip": round(wall * 1000, 1), "cpu_ms_per_clip": round(cpu * 1000, 1)})
        print(rows[-1], flush=True)
    command = run_command()
    lines = ["# Embedded audio encoders: time per clip", "", f"Command: `{command}`  ", f"Machine: {args.host}  ",
             f"{len(waves)} EmoDB clips of {seconds:.2f} s on average (16 kHz), batches of {args.batch}, "
             f"{args.threads} torch thread(s); decoding not included.", "",
             "| encoder | wall ms/clip | CPU ms/clip |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {r['encoder']} | {r['wall_ms_per_clip']} | {r['cpu_ms_per_clip']} |" for r in rows]
    atomic_write_text(args.out.with_name(args.out.name + "_timing.md"), "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "../shared/data/emodb")
    ap.add_argument("--encoders", default="whisper-tiny.en,whisper-base,librosa")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/altsa-bench-cache"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/audio_emodb")
    ap.add_argument("--timing", type=int, default=0, help="only time encoding of the first N clips (wall and CPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.host = machine()  # load average at the start

    files = sorted(args.data.glob("*.wav"))
    cfg = MediaConfig()
    t0 = time.perf_counter()
    waves = [decode_audio(f, cfg) for f in files]
    decode_per_clip = (time.perf_counter() - t0) / len(files)
    outcomes = summarize(waves)
    keep = [i for i, w in enumerate(waves) if not isinstance(w, Absent)]
    files = [files[i] for i in keep]
    waves = [waves[i] for i in keep]
    y = np.array([EMOTIONS[f.name[5]] for f in files])
    speakers = np.array([f.name[:2] for f in files])
    print(f"{len(files)} clips decoded ({outcomes}), {decode_per_clip * 1000:.1f} ms/clip", flush=True)

    if args.timing:
        return timing_only(args, files, waves, cfg)
    rows = []
    for name in args.encoders.split(","):
        x, timing = features(name, files, waves, args.cache, args.batch)
        variants = {"stats": x} if x.ndim == 2 else {
            **{f"layer {k}" + (" (last)" if k == x.shape[1] - 1 else ""): x[:, k] for k in range(1, x.shape[1])},
            "mean of layers 1..L": x[:, 1:].mean(1),
        }  # fmt: skip
        for variant, feats in variants.items():
            scores = evaluate(feats, y, speakers)
            rows.append({"encoder": name, "variant": variant, **timing, **scores})
            print(f"{name:16s} {variant:22s} acc {scores['accuracy']:.3f}±{scores['accuracy_std']:.3f} "
                  f"UAR {scores['uar']:.3f}±{scores['uar_std']:.3f}  {timing['encode_s_per_clip'] * 1000:.0f} ms/clip", flush=True)

    command = run_command()
    report = {
        "benchmark": "EmoDB 7 emotions, 5 speaker-disjoint folds (8 train / 2 test speakers), StandardScaler + LogisticRegression(C=1)",
        "command": command, "machine": args.host, "clips": len(files), "decode_outcomes": outcomes,
        "decode_s_per_clip": round(decode_per_clip, 4), "folds": speaker_folds(list(speakers)), "rows": rows,
    }  # fmt: skip
    atomic_write_json(args.out.with_suffix(".json"), report)
    lines = [
        "# Embedded audio encoders on EmoDB (speaker-independent)", "",
        f"Command: `{command}`  ", f"Machine: {report['machine']}  ",
        f"Data: {len(files)} EmoDB wavs (22,050 Hz, decoded to 16 kHz mono; outcomes {outcomes}), "
        f"decode {decode_per_clip * 1000:.1f} ms/clip.  ",
        "Protocol: 7 emotions; 5 folds, each tests 2 speakers "
        f"({', '.join('+'.join(f) for f in report['folds'])}) and trains on the other 8; "
        "StandardScaler + LogisticRegression(C=1, max_iter=5000). Chance: UAR 0.143. "
        "Trailing/leading digital silence (EmoDB's zero padding) is left out of every pooled vector.  ",
        "Times: wall clock when the features were computed (they are cached in --cache), on this shared "
        "machine whose load then may differ from the load above; `audio_emodb_timing.md` has wall and CPU time per clip.", "",
        "| encoder | variant | dim | accuracy | UAR | encode ms/clip |", "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['variant']} | {r['dim']} | {r['accuracy']:.3f} ± {r['accuracy_std']:.3f} "
            f"| {r['uar']:.3f} ± {r['uar_std']:.3f} | {r['encode_s_per_clip'] * 1000:.0f} |"
        )
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"wrote {args.out}.md/.json")


if __name__ == "__main__":
    main()
