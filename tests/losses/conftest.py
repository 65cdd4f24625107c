"""One intra-op thread for these tiny tensors: on a shared CPU, thread spin-waits cost more
than they parallelise (measured: 3-5x faster here)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
