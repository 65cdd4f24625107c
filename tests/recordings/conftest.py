"""A conversation recording assembled at test time from eSpeak NG voices (two speakers,
known words and boundaries), and the transcript of it, shared by the recordings tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from recording_helpers import LINES, need_recordings_extra, need_speech


@pytest.fixture(scope="session")
def conversation(tmp_path_factory) -> tuple[Path, np.ndarray, list]:
    """(wav path at 22.05 kHz stereo, 16 kHz mono wave, true lines)."""
    need_speech()
    from altsa.recordings import synthetic

    wave, truth = synthetic.assemble(LINES, pause_s=0.9)
    path = synthetic.write(tmp_path_factory.mktemp("rec") / "talk.wav", wave, rate=22050, channels=2)
    return path, wave, truth


@pytest.fixture(scope="session")
def transcript(conversation):
    need_recordings_extra()
    import torch

    from altsa.recordings import RecordingConfig, transcribe_recording

    threads = torch.get_num_threads()
    try:
        return transcribe_recording(conversation[0], RecordingConfig(threads=1))
    finally:
        torch.set_num_threads(threads)
