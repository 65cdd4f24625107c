"""Training under ``accelerate launch --multi_gpu --num_processes 2`` (on this CPU: a gloo group),
all three stages with the students fine-tuned end to end, run as two launches (``--stage
teacher``, then ``--resume``), against one process with the same global batch (gradient
accumulation over 2 batches = one batch per process, averaged by DDP).

Tolerance: weights within 1e-6 and dev metrics within 0.01 points. Measured here: bitwise
equal (averaging two gradients and accumulating two halves round the same way); dropout and
the encoders' other training-time randomness are off (``deterministic`` tiny models), since
each process draws its own random numbers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from altsa.training.checkpoint import load_tensors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from altsa.config import load_config, save_config
    from altsa.encoders.tiny import save_tiny_data2vec_audio, save_tiny_roberta, save_tiny_timesformer
    from altsa.experiment import ExperimentConfig
    from altsa.training.synthetic import make_corpus, tiny_overrides

    root = tmp_path_factory.mktemp("distributed")
    models = {"text": save_tiny_roberta(root / "text", deterministic=True),
              "audio": save_tiny_data2vec_audio(root / "audio", deterministic=True),
              "video": save_tiny_timesformer(root / "video", deterministic=True)}
    make_corpus(root / "corpus")

    def config(accum: int) -> Path:
        # 31 train utterances: 4 teacher batches of 8, 8 student batches of 4 clips, 2 fusion
        # batches of 4 dialogues: an even count, so both processes get the same number
        overrides = tiny_overrides(root / "corpus", models, root / "cache", preset="paper", text_mode=None) + [
            "model.dropout=0.0", "model.modality_dropout=0.0", "train.teacher.batch_utterances=8",
            "train.students.batch_clips=4", "train.teacher.warmup=0.0", "train.students.warmup=0.0",
            *[f"train.{s}.grad_accum={accum}" for s in ("teacher", "students", "fusion")],
        ]
        path = root / f"accum{accum}.yaml"
        save_config(load_config(ExperimentConfig, "paper", overrides), path)
        return path

    return root, config(2), config(1)


def launch(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    if accelerate is None:
        pytest.skip("the accelerate launcher is not installed beside this Python")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with socket.socket() as sock:  # a free port: other test runs on this machine may hold 29500
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
           "-m", "altsa.cli.main", "train", *args, "--quiet"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_match_one_and_resume(setup):
    from altsa.training.pipeline import train

    root, one_cfg, two_cfg = setup
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig

    one = train(load_config(ExperimentConfig, one_cfg), out=root / "one", quiet=True)
    first = launch([str(two_cfg), "--out", str(root / "two"), "--stage", "teacher"], root)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (root / "two" / "text-encoder").is_dir() and not (root / "two" / "checkpoints" / "students").exists()
    second = launch(["--resume", str(root / "two")], root)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("dev weighted F1") == 1  # the main process reports, once

    metrics = json.loads((root / "two" / "metrics.json").read_text())
    two = metrics["final"]
    for key in ("weighted_f1", "macro_f1", "accuracy"):
        assert two[key] == pytest.approx(one["dev"][key], abs=0.01), key
    assert metrics["students-audio"]["epochs"][0]["clips_read"] == 27  # both processes' clips, added up
    for name in ("model.safetensors", "text-encoder/model.safetensors", "audio-encoder/model.safetensors",
                 "video-encoder/model.safetensors"):
        a, b = load_tensors(root / "one" / name), load_tensors(root / "two" / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), (name, k)
