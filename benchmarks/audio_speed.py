"""The embedded Whisper audio encoder: clip frames only vs every clip padded to 30 s, in one run.

Whisper pads every input to 30 s (3000 mel frames, 1500 hidden states); the embedded
audio encoder did the same (``options.window: 30s``). By default it now encodes only the
clip's own frames, with the position embeddings sliced to them and clips batched under a
key mask (``window: clip``). This script times both on the same clips and the same
process (wall and CPU time per clip, one torch thread by default), and measures how far
the features move: cosine similarity and relative L2 difference per layer and for the
preset's vector (mean of layers 1..L), over EmoDB utterances of 2 s and clips of 3 s and
8 s made by joining EmoDB utterances (MELD's utterances average about 3 s).

    python benchmarks/audio_speed.py                       # rewrites benchmarks/results/audio_speed.md
    python benchmarks/audio_speed.py --model base --clips 16

The EmoDB accuracy of both paths: ``benchmarks/audio_emodb.py --encoders whisper-tiny.en@30s,whisper-tiny.en``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from _common import header, write_results

ROOT = Path(__file__).resolve().parents[1]


def clips(data: Path, n: int, seconds: float | None) -> list[np.ndarray]:
    """``n`` EmoDB utterances (their own length), or ``n`` clips of ``seconds`` made by
    joining consecutive utterances (leading/trailing silence trimmed)."""
    from altsa.data.media import MediaConfig, active_span, decode_audio

    waves = []
    for f in sorted(data.glob("*.wav"))[: 8 * n]:
        w = decode_audio(f, MediaConfig())
        lo, hi = active_span(w, 16000, 1e-4)
        waves.append(w[lo:hi])
    if seconds is None:
        return waves[:n]
    joined, out = np.concatenate(waves), []
    size = int(seconds * 16000)
    for i in range(n):
        out.append(joined[i * size : (i + 1) * size])
    return [w for w in out if w.size == size]


def timed(encoder, waves: list[np.ndarray], batch: int) -> tuple[torch.Tensor, float, float]:
    encoder.encode_layers(waves[:1])  # warm-up
    c0, t0 = time.process_time(), time.perf_counter()
    out = torch.cat([encoder.encode_layers(waves[i : i + batch]) for i in range(0, len(waves), batch)])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return out, wall / len(waves), cpu / len(waves)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "../shared/data/emodb")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--clips", type=int, default=24, help="clips per length")
    ap.add_argument("--batch", type=int, default=8, help="clips per encode call (both paths)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="audio_speed.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from altsa.encoders.base import EncoderConfig, build_encoder

    padded = build_encoder(EncoderConfig(kind="embedded-audio-whisper", model=args.model, options={"window": "30s"}))
    clip = build_encoder(EncoderConfig(kind="embedded-audio-whisper", model=args.model, options={"window": "clip"}))
    rows, tolerance = [], []
    for seconds in (None, 3.0, 8.0):
        waves = clips(args.data, args.clips, seconds)
        length = np.mean([w.size for w in waves]) / 16000
        slow, slow_wall, slow_cpu = timed(padded, waves, args.batch)
        fast, fast_wall, fast_cpu = timed(clip, waves, args.batch)
        alone = torch.cat([clip.encode_layers([w]) for w in waves[:4]])
        rows.append((length, len(waves), slow_wall, slow_cpu, fast_wall, fast_cpu,
                     float((alone - fast[:4]).abs().max())))
        layers = [*range(1, slow.shape[1]), "mean"]
        for layer in layers:
            a = slow[:, 1:].mean(1) if layer == "mean" else slow[:, layer]
            b = fast[:, 1:].mean(1) if layer == "mean" else fast[:, layer]
            cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
            rel = (a - b).norm(dim=-1) / a.norm(dim=-1)
            tolerance.append((length, layer, float(cos.min()), float(cos.mean()), float(rel.max()), float(rel.mean())))
        print(rows[-1], flush=True)

    lines = header(
        f"Embedded Whisper {args.model} audio encoder: clip frames vs 30 s padding",
        "a 2-core machine that may run other jobs (load average above); CPU time is less disturbed than wall time. "
        "Target: >= 5x faster per clip.",
    )
    lines += [
        f"- batches of {args.batch} clips for both paths, {args.threads} torch thread(s); decoding not included",
        "",
        "| clip length | clips | 30 s window: wall / CPU ms per clip | clip frames: wall / CPU ms per clip | speed-up (wall / CPU) | batched vs alone, max abs diff |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for length, n, sw, sc, fw, fc, diff in rows:
        lines.append(f"| {length:.2f} s | {n} | {sw * 1e3:.0f} / {sc * 1e3:.0f} | {fw * 1e3:.1f} / {fc * 1e3:.1f} "
                     f"| {sw / fw:.1f}x / {sc / fc:.1f}x | {diff:.1e} |")
    lines += [
        "",
        "How far the pooled features move (clip frames vs 30 s window, per clip):",
        "",
        "| clip length | hidden states | cosine min | cosine mean | relative L2 max | relative L2 mean |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for length, layer, cmin, cmean, rmax, rmean in tolerance:
        name = "mean of layers 1..L (the embedded preset)" if layer == "mean" else f"layer {layer}"
        lines.append(f"| {length:.2f} s | {name} | {cmin:.4f} | {cmean:.4f} | {rmax:.3f} | {rmean:.3f} |")
    lines += [
        "",
        "The clip path computes only the clip's states; the padding enters each layer as fixed keys and values, "
        "so the deeper layers, whose padding states the clip would have changed, move most. EmoDB accuracy of "
        "both paths: `benchmarks/results/audio_emodb_window.md` (`whisper-tiny.en@30s` is the padded path).",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
