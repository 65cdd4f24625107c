"""Embedded video encoder on real faces: the 24 MEAD clips in ../shared/data/faces/mead/.

Three speakers (M030 W009 W011) x 8 emotions, one clip each, 8 frames per clip. Reports
1. the shipped FER model's own prediction (argmax of the mean probabilities over the
   clip's faces) against the file-name emotion mapped to FER's 7 classes, contempt
   excluded (21 clips; chance 1/7);
2. leave-one-speaker-out logistic regression on the pooled features (3 folds: train on
   16 clips, test on the 8 of the held-out speaker, all 8 emotions; chance 1/8);
3. face-detection rate and time per clip (decode and encode), also on the 1080p clip.
Twenty-four clips are far too few for firm conclusions: one clip is 4-5 points.

    python benchmarks/video_mead.py --out benchmarks/results/video_mead
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from altsa.data.media import MediaConfig, decode_video, summarize
from altsa.encoders.base import EncoderConfig, build_encoder
from altsa.encoders.embedded_video import FER_LABELS, MESH_PAIRS
from _common import command as run_command, machine  # benchmarks/_common.py: CPU, cores, RAM, load, torch threads
from altsa.io import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
TO_FER = {"angry": "angry", "disgusted": "disgust", "fear": "fear", "happy": "happy",
          "neutral": "neutral", "sad": "sad", "surprised": "surprise"}  # fmt: skip


SMALL_SIZES = (64, 96, 128, 192, 256)


def small_faces(frames: list[np.ndarray]) -> dict[str, list[int]]:
    """How many of ``frames`` each detector finds when the face is small in a wide frame."""
    from altsa.encoders.embedded_video import FaceDetector, _resize

    out = {}
    for variant in ("short", "full"):
        detector, hits = FaceDetector(variant), []
        for size in SMALL_SIZES:
            n = 0
            for frame in frames:
                canvas = np.full((720, 1280, 3), 90, np.uint8)
                canvas[200 : 200 + size, 500 : 500 + size] = _resize(frame.astype(np.float32), size, size).clip(0, 255)
                found = detector(canvas)
                n += found is not None and abs(found[0] - 500 - size / 2) < size / 2 and abs(found[1] - 200 - size / 2) < size / 2
            hits.append(int(n))
        out[variant] = hits
    return out


def loso(x: np.ndarray, y: np.ndarray, speakers: np.ndarray) -> tuple[float, list[float]]:
    accs = []
    for s in sorted(set(speakers)):
        te = speakers == s
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
        clf.fit(x[~te], y[~te])
        accs.append(accuracy_score(y[te], clf.predict(x[te])))
    return float(np.mean(accs)), [round(a, 3) for a in accs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "../shared/data/faces")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/video_mead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    host = machine()  # load average at the start

    files = sorted((args.data / "mead").glob("*.mp4"))
    emotions = np.array([f.name.split("_")[2] for f in files])
    speakers = np.array([f.name.split("_")[0] for f in files])
    cfg = MediaConfig()
    t0 = time.perf_counter()
    clips = [decode_video(f, cfg) for f in files]
    decode_s = (time.perf_counter() - t0) / len(files)
    outcomes = summarize(clips)
    hd_path = args.data / "mead-av" / "M030_sad_3_001.mp4"
    t0 = time.perf_counter()
    hd = decode_video(hd_path, cfg)
    hd_decode_s = time.perf_counter() - t0
    print(f"decoded {outcomes}, {decode_s * 1000:.0f} ms/clip; 1080p clip {hd_decode_s * 1000:.0f} ms", flush=True)

    rows, timing = [], []
    nf = 7 + 7 + 128
    nm = 3 * len(MESH_PAIRS)
    for detector in ("short", "full"):
        for model in ("fer", "mesh", "fer+mesh"):
            enc = build_encoder(EncoderConfig(kind="embedded-video-face", model=model, media=cfg, options={"detector": detector}))
            enc.encode(clips[:1])  # warm-up
            t0, c0 = time.perf_counter(), time.process_time()
            x = enc.encode(clips).numpy()
            per_clip = (time.perf_counter() - t0) / len(clips)
            cpu_clip = (time.process_time() - c0) / len(clips)
            t0 = time.perf_counter()
            enc.encode([hd])
            hd_s = time.perf_counter() - t0
            timing.append({"detector": detector, "model": model, "dim": enc.dim, "encode_ms_per_clip": round(per_clip * 1000, 1), "cpu_ms_per_clip": round(cpu_clip * 1000, 1),
                           "encode_ms_1080p_clip": round(hd_s * 1000, 1), "face_rate": float(x[:, -1].mean())})  # fmt: skip
            if model != "fer+mesh":
                continue
            fer, mesh = x[:, :nf], x[:, nf : nf + nm]
            keep = emotions != "contempt"
            pred = np.array([FER_LABELS[i] for i in fer[:, :7].argmax(1)])
            truth = np.array([TO_FER.get(e, "") for e in emotions])
            zero_shot = float((pred[keep] == truth[keep]).mean())
            predicted = {lab: int((pred[keep] == lab).sum()) for lab in FER_LABELS}
            for name, feats in {
                "FER probs (7)": fer[:, :7], "FER probs+std+features (142)": fer,
                "mesh geometry (36)": mesh, "FER+mesh (178)": np.hstack([fer, mesh]),
            }.items():  # fmt: skip
                acc, folds = loso(feats, emotions, speakers)
                rows.append({"detector": detector, "features": name, "loso_accuracy": acc, "folds": folds})
            rows.append({"detector": detector, "features": "FER zero-shot (21 clips, no contempt)",
                         "accuracy": zero_shot, "correct": int((pred[keep] == truth[keep]).sum()), "predicted": predicted})  # fmt: skip
            print(detector, f"FER zero-shot {zero_shot:.3f}", predicted, flush=True)
    for r in rows:
        print(r, flush=True)

    small = small_faces([c[len(c) // 2] for c in clips])
    print("small faces in a 1280x720 frame:", small, flush=True)

    command = run_command()
    report = {"command": command, "machine": host, "decode_outcomes": outcomes, "decode_ms_per_clip": round(decode_s * 1000, 1),
              "decode_ms_1080p_clip": round(hd_decode_s * 1000, 1), "rows": rows, "timing": timing}  # fmt: skip
    atomic_write_json(args.out.with_suffix(".json"), report)
    lines = [
        "# Embedded video encoder on MEAD faces (24 clips)", "",
        f"Command: `{command}`  ", f"Machine: {report['machine']}  ",
        f"Data: 24 MEAD clips (256x256, 25 fps, 3 speakers x 8 emotions), 8 frames each, TFLite interpreters on 1 thread; decode outcomes {outcomes}, "
        f"{decode_s * 1000:.0f} ms/clip; the 1080p clip M030_sad_3_001.mp4 {hd_decode_s * 1000:.0f} ms.  ",
        "Small numbers: 21 clips for zero-shot (one clip = 4.8 points), 8 test clips per fold for leave-one-speaker-out (one clip = 12.5 points).", "",
        "| detector | features | result |", "|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        if "loso_accuracy" in r:
            lines.append(f"| {r['detector']} | {r['features']} | LOSO accuracy {r['loso_accuracy']:.3f} (folds {r['folds']}; chance 0.125) |")
        else:
            lines.append(f"| {r['detector']} | {r['features']} | {r['correct']}/21 = {r['accuracy']:.3f} (chance 0.143); predicted {r['predicted']} |")
    lines += ["", "| detector | parts | dim | encode ms/clip (8 frames, 256x256): wall / CPU | encode ms (8 frames, 1080p): wall | frames with a face |", "|---|---|---|---|---|---|"]
    for t in timing:
        lines.append(f"| {t['detector']} | {t['model']} | {t['dim']} | {t['encode_ms_per_clip']} / {t['cpu_ms_per_clip']} | {t['encode_ms_1080p_clip']} | {t['face_rate']:.2f} |")
    lines += ["", "Faces in wide shots (MELD is TV footage): each clip's middle frame scaled to a face of N px and",
              "pasted into a grey 1280x720 frame; share of the 24 frames where the detector finds it:", "",
              "| detector | " + " | ".join(f"{n} px" for n in SMALL_SIZES) + " |", "|---|" + "---|" * len(SMALL_SIZES)]
    for detector, hits in small.items():
        lines.append(f"| {detector} | " + " | ".join(f"{h}/24" for h in hits) + " |")
    report["small_faces"] = small
    atomic_write_json(args.out.with_suffix(".json"), report)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"wrote {args.out}.md/.json")


if __name__ == "__main__":
    main()
