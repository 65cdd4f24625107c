"""``altsa extract``: fills the cache, reuses it, resumes after a kill, runs under accelerate."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from altsa.cli.main import main
from altsa.config import load_config
from altsa.data.readers import read_corpus
from altsa.encoders import build_encoder, resolve_encoders
from altsa.experiment import ExperimentConfig
from altsa.features import FeatureCache, extract, load_features

REPO = Path(__file__).resolve().parents[2]


def write_config(folder: Path, model: Path, *, dialogues: int, turns: int, meld_csv_factory, **features) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    meld_csv_factory(data / "train.csv", dialogues, turns, seed=3)
    meld_csv_factory(data / "dev.csv", 3, 4, seed=4)
    cfg = {
        "name": "tiny",
        "data": {"corpus": "meld", "root": str(data), "splits": {"train": "train.csv", "dev": "dev.csv"}},
        "encoders": {"preset": "paper", "modalities": ["text"], "text": {"model": str(model), "max_length": 48}},
        "features": {"cache_dir": str(folder / "cache"), **features},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def altsa_script() -> str:
    """The installed ``altsa`` console script (``accelerate launch`` needs a script file)."""
    script = shutil.which("altsa", path=str(Path(sys.executable).parent)) or shutil.which("altsa")
    if script is None:
        pytest.skip("the altsa command is not installed (pip install -e .)")
    return script


def cli_env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def table_of(config: Path, split: str, cache_dir: Path | None = None):
    cfg = load_config(ExperimentConfig, config)
    corpus = read_corpus(Path(cfg.data.root) / cfg.data.splits[split], format="meld", split=split)
    return corpus, build_encoder(resolve_encoders(cfg.encoders)["text"]), Path(cache_dir or cfg.features.cache_dir)


def test_shipped_config_is_valid() -> None:
    cfg = load_config(ExperimentConfig, "embedded-frozen")
    assert cfg.data.corpus == "meld" and set(cfg.data.splits) == {"train", "dev"}
    assert list(resolve_encoders(cfg.encoders)) == cfg.encoders.modalities == ["text"]


def test_extract_fills_the_cache_and_a_rerun_reuses_it(
    tiny_roberta: Path, tmp_path: Path, meld_csv_factory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tiny_roberta, dialogues=4, turns=5, meld_csv_factory=meld_csv_factory)
    assert main(["extract", str(config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "text train: 0 of 20 cached, 20 to compute" in out and "text dev: 0 of 12 cached, 12 to compute" in out
    assert main(["extract", str(config), "--no-progress", "--split", "dev"]) == 0
    out = capsys.readouterr().out
    assert "text dev: 12 of 12 cached, 0 to compute" in out and "text train" not in out  # --split dev only
    corpus, enc, cache = table_of(config, "train")
    assert load_features(cache, corpus, enc).present.all()
    # an override changes the fingerprint: everything is computed again, into another folder
    assert main(["extract", str(config), "encoders.text.max_length=16", "--no-progress", "-s", "dev"]) == 0
    assert "text dev: 0 of 12 cached" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "text").iterdir())) == 2


def test_bad_input_is_a_one_line_error(tiny_roberta: Path, tmp_path: Path, meld_csv_factory, capsys) -> None:
    config = write_config(tmp_path, tiny_roberta, dialogues=2, turns=2, meld_csv_factory=meld_csv_factory)
    assert main(["extract", str(config), "--split", "test"]) == 2
    assert "unknown split(s) test" in capsys.readouterr().err
    assert main(["extract", "no-such-config"]) == 2
    assert "no config file 'no-such-config'" in capsys.readouterr().err
    assert main(["extract", str(config), "encoders.preset=papper"]) == 2
    assert "unknown encoder preset 'papper'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(tiny_roberta: Path, tmp_path: Path, meld_csv_factory) -> None:
    config = write_config(tmp_path, tiny_roberta, dialogues=80, turns=10, meld_csv_factory=meld_csv_factory,
                          batch_size=8, shard_size=8)
    cmd = [altsa_script(), "extract", str(config), "--split", "train", "--no-progress"]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cache_root = tmp_path / "cache" / "text"
    deadline = time.monotonic() + 300
    while not list(cache_root.glob("*/shard-*.safetensors")):
        assert proc.poll() is None, f"extract ended before writing a shard: {proc.stdout.read()}"
        assert time.monotonic() < deadline, "no shard after 300 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    corpus, enc, cache = table_of(config, "train")
    done = len(FeatureCache(cache, "text", enc.fingerprint).entries())
    assert 0 < done < 800, "the kill came too late to test resuming"
    rerun = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"text train: {done} of 800 cached, {800 - done} to compute" in rerun.stdout
    resumed = load_features(cache, corpus, enc)
    whole = extract(corpus, enc, tmp_path / "whole", batch_size=8, shard_size=8, progress=False)
    assert torch.equal(resumed.vectors, whole.vectors)  # same batches as an uninterrupted run: identical


@pytest.mark.slow
def test_two_processes_under_accelerate_give_the_same_vectors(
    tiny_roberta: Path, tmp_path: Path, meld_csv_factory
) -> None:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if accelerate is None:
        pytest.skip("the accelerate command is not installed (pip install accelerate)")
    config = write_config(tmp_path, tiny_roberta, dialogues=6, turns=5, meld_csv_factory=meld_csv_factory,
                          shard_size=4, batch_size=4)
    # accelerate's --cpu flag starts ONE process unless given an MPI hostfile; its torchrun
    # launcher (--multi_gpu) starts two, which join a CPU (gloo) group when no GPU is visible.
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
           "no", "--dynamo_backend", "no", altsa_script(), "extract", str(config), "--no-progress"]
    env = dict(cli_env(), CUDA_VISIBLE_DEVICES="", ACCELERATE_USE_CPU="1")
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(re.findall(r"text train: 0 of 30 cached", run.stdout)) == 1  # printed by the main process only
    corpus, enc, cache = table_of(config, "train")
    folder = FeatureCache(cache, "text", enc.fingerprint).path
    assert {p.name for p in folder.glob("index*.json")} == {"index.json"}  # per-process indexes merged
    ranks = {re.search(r"-r(\d+)-", p.name).group(1) for p in folder.glob("shard-*.safetensors")}
    assert ranks == {"000", "001"}  # both processes wrote shards
    two = load_features(cache, corpus, enc)
    one = extract(corpus, enc, tmp_path / "one", batch_size=4, shard_size=4, progress=False)
    assert torch.allclose(two.vectors, one.vectors, atol=1e-5)  # other batch company: float noise only
