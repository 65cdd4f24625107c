"""Utterance spans of one long recording: what reading one utterance costs, and that it reads
the samples the whole file's decode holds there.

A corpus such as IEMOCAP ships one recording per session with utterance start/end times; a
transcript of ``altsa transcribe`` names the recording and each utterance's span. Decoding
a span seeks to 0.5 s before it and stops after it (``altsa.data.media.decode_audio(...,
span=)``), so an utterance costs about the same whatever its place in the recording. This
script builds a recording of ``--minutes`` (a gliding tone in noise) in several containers,
and for each times the whole-file decode (what reading one utterance would cost without
seeking) against decoding ``--spans`` spans of 3 s spread over the file, and checks every
span against the slice of the whole decode (largest absolute difference).

    python benchmarks/media_spans.py                 # rewrites benchmarks/results/media_spans.md
    python benchmarks/media_spans.py --minutes 30 --spans 100
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import header, write_results

RATE = 16000
CONTAINERS = {  # name -> (suffix, altsa.recordings.synthetic.write options)
    "wav 44.1 kHz stereo": ("wav", {"rate": 44100, "channels": 2}),
    "mp3 44.1 kHz stereo": ("mp3", {"rate": 44100, "channels": 2, "fmt": "mp3", "codec": "libmp3lame"}),
    "flac 48 kHz": ("flac", {"rate": 48000, "fmt": "flac", "codec": "flac"}),
    "m4a (AAC) 16 kHz": ("m4a", {"rate": 16000, "fmt": "ipod", "codec": "aac"}),
}


def signal(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = 0.3 * np.sin(2 * np.pi * (200 + 50 * np.sin(2 * np.pi * t / 7)) * t)
    return (wave + 0.05 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def cpu_wall(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--spans", type=int, default=40)
    args = ap.parse_args()

    from altsa.data.media import MediaConfig, decode_audio
    from altsa.recordings.synthetic import write

    seconds = args.minutes * 60
    wave = signal(seconds)
    cfg = MediaConfig(max_seconds=seconds + 60)
    starts = np.linspace(1.0, seconds - 4.0, args.spans)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (suffix, kw) in CONTAINERS.items():
            path = write(Path(tmp) / f"rec.{suffix}", wave, **kw)
            whole, w_wall, w_cpu = cpu_wall(lambda: decode_audio(path, cfg))
            worst, s_wall, s_cpu = 0.0, 0.0, 0.0
            for start in starts:
                part, wall, cpu = cpu_wall(lambda: decode_audio(path, cfg, span=(float(start), float(start) + 3.0)))
                s_wall, s_cpu = s_wall + wall, s_cpu + cpu
                lo = round(start * RATE)
                worst = max(worst, float(np.abs(part - whole[lo : lo + part.size]).max()))
            n = len(starts)
            rows.append(f"| {name} | {w_wall:.2f} s ({w_cpu:.2f} CPU) | {s_wall / n * 1e3:.1f} ms "
                        f"({s_cpu / n * 1e3:.1f} CPU) | {w_wall / (s_wall / n):.0f}x | {worst:.1e} |")
            print(rows[-1], flush=True)
    lines = header(f"Utterance spans of a {args.minutes:g}-minute recording", "2-core machine shared with other jobs")
    lines += [
        f"{args.spans} spans of 3 s spread over the recording, decoded to 16 kHz mono one by one "
        "(`decode_audio(path, cfg, span=(start, end))`: a seek to 0.5 s before the span, decoding stops after it), "
        "against decoding the whole file once (what each utterance would cost without seeking). "
        "`max diff`: the largest absolute difference between a span and the same slice of the whole decode.",
        "",
        "| container | whole file | one 3 s span | ratio | max diff |",
        "|---|---|---|---|---|",
        *rows,
    ]
    write_results("media_spans.md", lines)


if __name__ == "__main__":
    main()
