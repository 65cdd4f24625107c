"""Streaming cost per turn: turn 1 against turn 50, for the causal session and for a baseline
that re-encodes and re-runs the whole history at every turn (what a non-streaming API forces).

Each of ``--sessions`` conversations has ``--turns`` turns drawn from a pool of MELD dev
utterances, rotated per session so that text length does not correlate with the turn index.
Per turn index, the median over sessions is reported.

    python benchmarks/streaming.py                      # rewrites benchmarks/results/streaming.md
    python benchmarks/streaming.py --sessions 10 --turns 50 --threads 1
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
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--baseline-sessions", type=int, default=4, help="the baseline is slow: fewer sessions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="streaming.md")
    args = ap.parse_args()

    from altsa.inference import Recognizer

    torch.set_num_threads(args.threads)
    convs, source = dev_conversations()
    pool = [{"speaker": u.speaker, "text": u.text} for c in convs for u in c]
    rec = Recognizer.from_pretrained(args.model)

    def conversation(s: int) -> list[dict]:
        start = (s * 37) % len(pool)
        return [pool[(start + i) % len(pool)] for i in range(args.turns)]

    def stream_times(s: int) -> tuple[list[float], list[float]]:
        session, wall, cpu = rec.stream(), [], []
        for u in conversation(s):
            c0, t0 = time.process_time(), time.perf_counter()
            session.add(u)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return wall, cpu

    def baseline_times(s: int) -> tuple[list[float], list[float]]:
        history, wall, cpu = [], [], []
        for u in conversation(s):
            history.append(u)
            c0, t0 = time.process_time(), time.perf_counter()
            rec.predict(history)  # re-encode every utterance so far, re-run the whole model
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return wall, cpu

    stream_times(-1)  # warm-up
    streams = [stream_times(s) for s in range(args.sessions)]
    print("stream done", flush=True)
    baselines = [baseline_times(s) for s in range(args.baseline_sessions)]

    def per_turn(runs: list[tuple[list[float], list[float]]], k: int) -> list[float]:
        return [statistics.median(r[k][i] for r in runs) for i in range(args.turns)]

    st, bl = per_turn(streams, 0), per_turn(baselines, 0)
    st_cpu, bl_cpu = per_turn(streams, 1), per_turn(baselines, 1)
    first5 = lambda xs: statistics.median(xs[:5])  # noqa: E731
    last5 = lambda xs: statistics.median(xs[-5:])  # noqa: E731
    marks = [t for t in (1, 2, 5, 10, 25, 50, args.turns) if t <= args.turns]
    marks = sorted(set(marks))

    lines = header(
        f"Streaming: cost of turn 1 vs turn {args.turns}, `{args.model}`",
        "a 2-core machine that may run other jobs: the load average at start (above) says how busy it was; single turns are "
        "noisy; the medians over sessions and over 5-turn groups are the robust figures. "
        f"Target: turn {args.turns} / turn 1 <= 1.2 for the causal session.",
    )
    lines += [
        f"- causal: `{rec.causal}`; {rec.info()['streaming']}",
        f"- {args.sessions} sessions (baseline: {args.baseline_sessions}) of {args.turns} turns from {source}; "
        f"torch threads {args.threads}; median over sessions per turn",
        "",
        "| turn | stream `session.add` wall | CPU | baseline `predict(history)` wall | CPU |",
        "|---:|---:|---:|---:|---:|",
    ]
    for t in marks:
        lines.append(f"| {t} | {st[t - 1] * 1e3:.2f} ms | {st_cpu[t - 1] * 1e3:.2f} ms "
                     f"| {bl[t - 1] * 1e3:.2f} ms | {bl_cpu[t - 1] * 1e3:.2f} ms |")

    def ratios(xs: list[float]) -> tuple[float, float]:
        return xs[-1] / xs[0], last5(xs) / first5(xs)

    (rs, gs), (rsc, gsc), (rb, gb), (rbc, gbc) = ratios(st), ratios(st_cpu), ratios(bl), ratios(bl_cpu)
    lines += [
        f"| ratio turn {args.turns} / turn 1 | **{rs:.2f}** | **{rsc:.2f}** | {rb:.1f} | {rbc:.1f} |",
        f"| ratio turns {args.turns - 4}-{args.turns} / turns 1-5 (medians) | **{gs:.2f}** | **{gsc:.2f}** "
        f"| {gb:.1f} | {gbc:.1f} |",
        "",
        f"Whole {args.turns}-turn conversation: stream {sum(st) * 1e3:.0f} ms, baseline {sum(bl) * 1e3:.0f} ms (sums of per-turn medians).",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
