"""Throughput with batching: utterances per second for whole conversations through
``Recognizer.predict_batch`` at several batch sizes (encoder utterances per call and
dialogues per model call).

    python benchmarks/throughput.py                     # rewrites benchmarks/results/throughput.md
    python benchmarks/throughput.py --batch-sizes 1 16 64 --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import dev_conversations, header, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="meld-text-minilm")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--dialogues", type=int, default=60, help="MELD dev dialogues per pass")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default="throughput.md")
    args = ap.parse_args()

    from altsa.inference import Recognizer

    convs, source = dev_conversations()
    convs = convs[: args.dialogues]
    n = sum(len(c) for c in convs)
    rec = Recognizer.from_pretrained(args.model)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rec.predict_batch(convs[:4])  # warm-up
        for bs in args.batch_sizes:
            rec.batch_size = bs
            c0, t0 = time.process_time(), time.perf_counter()
            rec.predict_batch(convs)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            rows.append((threads, bs, dt, n / dt, cpu))
            print(f"threads {threads} batch {bs:3d}: {n / dt:7.1f} utterances/s", flush=True)

    lines = header(
        f"Throughput with batching, `{args.model}`",
        "a 2-core machine that may run other jobs: the load average at start (above) says how busy it was.",
    )
    lines += [
        f"- input: {len(convs)} dialogues, {n} utterances of {source}",
        "",
        "| torch threads | batch size | seconds | utterances/s | CPU seconds |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {th} | {bs} | {dt:.2f} | {ups:.0f} | {cpu:.2f} |" for th, bs, dt, ups, cpu in rows]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
