"""``benchmarks/gpu_paper.py`` runs end to end at tiny size on a CPU (issue #11, item 7): every
stage steps, the result table is written, and it needs nothing but torch, transformers and
the project (run as its own process from a folder outside the repository)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_paper.py"


@pytest.mark.slow
def test_gpu_paper_runs_tiny_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_paper.md"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--threads", "1",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["stage"] for r in rows] == ["teacher", "students-audio", "students-video", "fusion"]
    for r in rows:
        assert r["step"].endswith(" ms") and r["params_m"] > 0 and r["largest_batch"] == ">=2", r
    table = out.read_text()
    assert "TINY" in table and "| students-video |" in table and "--tiny" in table
