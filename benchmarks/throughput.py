"""Throughput with batching: utterances per second for whole conversations through
``Recognizer.predict_batch`` at several batch sizes (encoder utterances per call and
dialogues per model call); and the text-encoder cost of a server micro-batch of k live
turns (k MELD dev texts) three ways: packed into one unpadded row (what the server does),
in length groups, and as one padded batch.

    python benchmarks/throughput.py                     # rewrites benchmarks/results/throughput.md
    python benchmarks/throughput.py --batch-sizes 1 16 64 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from _common import dev_conversations, header, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="meld-text-minilm")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--dialogues", type=int, default=60, help="MELD dev dialogues per pass")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--turns", type=int, nargs="+", default=[1, 2, 4, 8], help="micro-batch sizes (live turns)")
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

    torch.set_num_threads(1)
    turn_rows = micro_batches(rec, [u.text for c in convs for u in c.utterances if u.text.strip()], args.turns)

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
    lines += [
        "",
        "## Text encoder on a micro-batch of live turns (1 torch thread)",
        "",
        "k consecutive MELD dev texts per call, mean over 10 windows of the median of 5 calls; ms per call.",
        "",
        "| turns k | tokens (mean) | packed row | length groups | one padded batch |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {k} | {tok:.0f} | {a:.1f} | {b:.1f} | {c:.1f} |" for k, tok, a, b, c in turn_rows]
    write_results(args.out, lines)


def micro_batches(rec, texts: list[str], sizes: list[int]) -> list[tuple]:
    """ms per text-encoder call for k live turns: packed, in length groups, padded."""
    from altsa.inference.recognizer import _encode_length_groups, _encode_packed

    enc = rec.encoders["text"]

    def median_ms(fn) -> float:
        fn()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times)

    rows = []
    with torch.inference_mode():
        for k in sizes:
            runs, tokens = [], []
            for start in range(0, 10 * k, k):
                batch = enc.tokenize(texts[start : start + k])
                tokens.append(int(batch["attention_mask"].sum()))
                runs.append([median_ms(lambda: _encode_packed(enc, batch)),
                             median_ms(lambda: _encode_length_groups(enc, batch)),
                             median_ms(lambda: enc.forward(batch))])  # fmt: skip
            rows.append((k, statistics.mean(tokens), *(statistics.mean(r[i] for r in runs) for i in range(3))))
            print(f"{k} turns: packed {rows[-1][2]:.1f} ms, groups {rows[-1][3]:.1f}, padded {rows[-1][4]:.1f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
