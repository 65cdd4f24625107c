"""Fixtures of the service tests: the bundled model, app factories, a real uvicorn server,
and media files generated with PyAV (never copied from the data folder)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from altsa.data.synthetic import tone, video_bytes, wav_bytes
from altsa.serving.app import create_app
from altsa.serving.config import ServeSettings

MODEL = "meld-text-minilm"


@pytest.fixture(scope="session")
def model_name() -> str:
    return MODEL


@pytest.fixture(scope="session")
def recognizer():
    from altsa.inference import Recognizer

    return Recognizer.from_pretrained(MODEL, device="cpu")


class Stalling:
    """Fault injection: the real recognizer, whose model calls (``predict`` for whole
    conversations, ``add_many`` for batched session turns) first wait for ``gate``."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.labels, self.modalities = inner.labels, inner.modalities
        self.entered = threading.Event()
        self.gate = threading.Event()

    def info(self):
        return self.inner.info()

    def stream(self):
        return self.inner.stream()

    def _stall(self) -> None:
        self.entered.set()
        self.gate.wait(10)

    def predict(self, conv):
        self._stall()
        return self.inner.predict(conv)

    def add_many(self, items, return_exceptions=False):
        self._stall()
        return self.inner.add_many(items, return_exceptions=return_exceptions)


@pytest.fixture
def stalling(recognizer) -> Stalling:
    return Stalling(recognizer)


class FakeClock:
    """A clock the test moves by hand (session expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(recognizer, clock) -> Iterator[Callable[..., TestClient]]:
    """``make_client(**settings)`` -> a TestClient over the bundled model with those limits.
    Server exceptions are raised in the test (a bug would fail it, not hide as a 500)."""
    clients: list[TestClient] = []

    def make(**settings) -> TestClient:
        client = TestClient(base_url="http://localhost", app=create_app(recognizer, ServeSettings(**settings), clock=clock))
        client.__enter__()  # run the lifespan (sweeper task, clean shutdown)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


# --------------------------------------------------------------------------- a real server


class LiveServer:
    """uvicorn on a free loopback port, in a thread; ``url`` is its base address."""

    def __init__(self, app) -> None:
        import uvicorn

        from altsa.serving.server import uvicorn_config

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))  # the OS picks a free port: no race with other tests
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # altsa serve's own uvicorn config: the guarded protocol, timeouts and proxy settings
        self.server = uvicorn.Server(uvicorn_config(app, app.state.service.settings, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server(recognizer) -> Iterator[LiveServer]:
    with LiveServer(create_app(recognizer, ServeSettings(max_upload_mb=1.0))) as server:
        yield server


# --------------------------------------------------------------------------- media


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    with av.open(str(path), "w") as out:
        st = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        pcm = (tone(seconds, rate) * 32767).astype(np.int16)[None, :]  # [1, samples]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in st.encode(frame):
            out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
    return path


def write_video(path: Path, seconds: float, fps: int = 10, size: int = 32) -> Path:
    """A small H.264 mp4 without an audio track (frames change colour over time)."""
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width = st.height = size
        st.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((size, size, 3), (i * 20) % 255, dtype=np.uint8)  # [H, W, 3]
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, bytes]:
    """Clips as bytes: a 1 s wav, a 3 s wav (too long for max_clip_seconds=2), a 1 s video
    without audio, a truncated (corrupt) wav, and bytes that are no media at all."""
    d = tmp_path_factory.mktemp("media")
    wav = write_wav(d / "tone.wav", 1.0).read_bytes()
    return {
        "wav": wav,
        "long_wav": write_wav(d / "long.wav", 3.0).read_bytes(),
        "video": write_video(d / "clip.mp4", 1.0).read_bytes(),
        "corrupt": wav[:30] + bytes(range(256)) * 4,
        "garbage": b"this is not a media file at all\n" * 20,
    }


@pytest.fixture(scope="session")
def hostile() -> dict[str, bytes]:
    """Clips over the service's media caps: a 4000x4000 single-frame bomb (~30 KB), a 20-frame
    video, a stereo wav; and a plain 1 s wav."""
    return {
        "bomb": video_bytes(4000, 4000, 1),
        "frames20": video_bytes(32, 32, 20),
        "wav": wav_bytes(1.0),
        "stereo": wav_bytes(0.5, layout="stereo"),
    }


CHROMIUM = os.environ.get("ALTSA_CHROMIUM", "/usr/bin/chromium")
# the flags a root, offline, headless Chromium needs here (no sandbox, no background
# connections), plus autoplay so the recording page's player can seek without a click
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright; skips with a printed reason where it is missing."""
    import shutil

    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        reason = f"Chromium not installed at {CHROMIUM} (run .ci/install-chromium.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
