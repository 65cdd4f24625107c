"""Helpers shared by the benchmark scripts: machine description, percentiles, results files.

Each benchmark is one command that rewrites its own ``benchmarks/results/*.md`` file, so the
numbers in the repository always come with the machine and the exact command that made them.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """One line naming CPU, cores, memory, torch and thread settings."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    try:
        load = ", load avg %.2f/%.2f/%.2f at start" % os.getloadavg()
    except OSError:
        load = ""
    return (
        f"{cpu}, {os.cpu_count()} logical cores{mem}{load}; Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads)"
    )


def command() -> str:
    """The command line that produced a result, repository-relative."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd())
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank-with-interpolation percentile (numpy's default 'linear')."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def header(title: str, caveat: str = "") -> list[str]:
    lines = [
        f"# {title}",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {machine()}",
        f"- command: `{command()}`",
    ]
    if caveat:
        lines.append(f"- caveat: {caveat}")
    return lines + [""]


def write_results(name: str, lines: list[str]) -> Path:
    """Rewrite ``benchmarks/results/<name>`` atomically and echo it."""
    from altsa.io import atomic_write_text

    path = RESULTS / name
    text = "\n".join(lines).rstrip() + "\n"
    atomic_write_text(path, text)
    print(text)
    print(f"wrote {path}")
    return path


SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DEV_CSV = SHARED_DATA / "meld" / "dev_sent_emo.csv"


def dev_conversations():
    """MELD dev dialogues (real utterance lengths) when the shared data is there, else the
    example conversation shipped with the package."""
    from altsa.data.readers import read_corpus

    if DEV_CSV.is_file():
        return read_corpus(DEV_CSV).conversations, f"MELD dev ({DEV_CSV.name})"
    from altsa.cli.predict import example_path

    return read_corpus(example_path()).conversations, "the shipped example conversation"


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
