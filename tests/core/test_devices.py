"""``--device`` values are checked up front: a one-line ConfigError, never torch's AssertionError."""

from __future__ import annotations

import pytest
import torch

from altsa.devices import CUDA_INSTALL, resolve_device
from altsa.errors import ConfigError


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in ("cpu", "cuda")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cpu:0", "tpu", ""])
def test_unknown_names_are_refused(name: str) -> None:
    if name == "":
        assert resolve_device(name) == resolve_device("auto")
        return
    with pytest.raises(ConfigError, match="use cpu, cuda, cuda:N, mps or auto"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a torch that cannot use CUDA")
def test_cuda_without_a_usable_gpu_says_how_to_get_one() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_device("cuda")
    if not torch.backends.cuda.is_built():
        assert CUDA_INSTALL in str(err.value) and torch.__version__ in str(err.value)
    else:
        assert "sees no GPU" in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where CUDA is unusable")
def test_predict_with_cuda_is_one_line_exit_2(tmp_path, altsa_script: str) -> None:
    import subprocess

    conv = tmp_path / "c.jsonl"
    conv.write_text('{"utterances": [{"speaker": "a", "text": "hi"}]}\n')
    proc = subprocess.run([altsa_script, "predict", "meld-text-minilm", str(conv), "--device", "cuda"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --device cuda:") and proc.stderr.count("\n") == 1
