"""Per-utterance latency through the Python API, batch 1 (one utterance per call).

Two paths, both what a live application calls: ``session.add(utterance)`` (streaming, the
causal model carries its state) and ``rec.predict([utterance])`` (a one-utterance
conversation). Utterances are MELD dev texts, so lengths are realistic. Each thread
setting runs in the same process after a warm-up.

    python benchmarks/latency.py                       # rewrites benchmarks/results/latency.md
    python benchmarks/latency.py --model runs/my-run --n 300 --threads 1 2
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import dev_conversations, header, percentile, write_results


def timed(fn, items) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds per call. With one torch thread, CPU time is the
    work done, whatever else the machine runs; wall time adds waiting for a core."""
    wall, cpu = [], []
    for item in items:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(item)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="meld-text-minilm")
    ap.add_argument("--n", type=int, default=300, help="utterances timed per path and thread setting")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default="latency.md")
    args = ap.parse_args()

    from altsa.inference import Recognizer

    convs, source = dev_conversations()
    utts = [{"speaker": u.speaker, "text": u.text} for c in convs for u in c][: args.n]
    t0 = time.perf_counter()
    rec = Recognizer.from_pretrained(args.model)
    load_s = time.perf_counter() - t0

    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        session = rec.stream()
        timed(session.add, utts[:20])  # warm-up: allocator, kernels, tokenizer caches
        timed(lambda u: rec.predict([u]), utts[:20])
        session = rec.stream()
        for name, fn in (("stream: session.add(u)", session.add), ("predict([u])", lambda u: rec.predict([u]))):
            wall, cpu = timed(fn, utts)
            rows.append((threads, name, percentile(wall, 50), percentile(wall, 95), sum(wall) / len(wall),
                         percentile(cpu, 50)))
            print(f"threads={threads} {name:24s} p50 {rows[-1][2] * 1e3:6.2f} ms  p95 {rows[-1][3] * 1e3:6.2f} ms"
                  f"  cpu p50 {rows[-1][5] * 1e3:6.2f} ms", flush=True)

    chars = sum(len(u["text"]) for u in utts) / len(utts)
    lines = header(
        f"Per-utterance latency, batch 1, `{args.model}`",
        "a 2-core machine that may run other jobs: the load average at start (above) says how busy it was. Target: p50 <= 15 ms.",
    )
    lines += [
        f"- model: `{args.model}` ({', '.join(rec.modalities)}; encoders: "
        f"{', '.join(f'{m}={c.model}' for m, c in rec.encoder_configs.items())}), loaded in {load_s:.1f} s",
        f"- input: the first {len(utts)} utterances of {source} (mean {chars:.0f} characters), one per call",
        "",
        "| torch threads | path | p50 | p95 | mean | CPU time p50 |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for threads, name, p50, p95, mean, cpu50 in rows:
        lines.append(f"| {threads} | {name} | {p50 * 1e3:.2f} ms | {p95 * 1e3:.2f} ms | {mean * 1e3:.2f} ms "
                     f"| {cpu50 * 1e3:.2f} ms |")
    lines += [
        "",
        "p50/p95/mean are wall-clock per call. CPU time is the process's CPU seconds per call: with "
        "one thread it is the work done, unaffected by waiting for a busy core (with two threads it "
        "also counts spinning at thread hand-offs).",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
