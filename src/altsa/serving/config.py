"""Settings of the HTTP service: every limit it enforces, in one typed dataclass.

The service is meant to face untrusted clients, so each resource a request can consume
(body bytes, clip seconds, text, turns, sessions, queue slots, time) has a limit here.
``altsa serve`` fills it from a YAML file (``--config``, via ``altsa.config.load_config``)
and/or its command-line options; ``docs/serving.md`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altsa.errors import ConfigError

if TYPE_CHECKING:
    from altsa.data.media import MediaLimits


@dataclass
class ServeSettings:
    """Limits and runtime settings of ``altsa serve`` (defaults suit one CPU host)."""

    host: str = "127.0.0.1"  # loopback by default: exposing the service is a deliberate choice
    port: int = 8000
    workers: int = 1  # >1: uvicorn processes; sessions live in one process, so they are disabled
    device: str = "cpu"  # torch device the model runs on
    max_upload_mb: float = 20.0  # largest request body (all clips of one request together)
    max_clip_seconds: float = 30.0  # longer clips are refused (413), not silently cut
    max_video_pixels: int = 1920 * 1080  # width x height of an uploaded video's frames, read from its header (413 beyond)
    max_video_frames: int = 1800  # frames of an uploaded video (30 s at 60 fps), header and decoding (413 beyond)
    max_audio_channels: int = 8  # channels of an uploaded audio stream (7.1 surround fits)
    max_audio_rate: int = 192_000  # sample rate of an uploaded audio stream (Hz)
    max_text_chars: int = 2000  # per utterance; MELD's longest is ~300 characters
    max_utterances: int = 200  # per POST /v1/predict conversation (MELD's longest: 33)
    max_turns: int = 500  # per live session
    max_sessions: int = 100  # live sessions held in memory at once (429 beyond, after expiry)
    session_idle_s: float = 900.0  # a session unused this long is dropped
    request_timeout_s: float = 30.0  # whole request: body upload + queue + inference
    max_recording_minutes: float = 10.0  # POST /v1/recordings: longer recordings refused from the header (413)
    inference_threads: int = 0  # model calls running at once (0: auto, 2 where there are 2+ cores)
    torch_threads: int = 0  # torch intra-op threads per process (0: auto, (cores - 1) / inference_threads)
    max_queue: int = 32  # inference jobs waiting for a thread; beyond this 503 at once
    batch_max_turns: int = 8  # live-session turns run together in one model call (1: no batching)
    batch_wait_ms: float = 10.0  # longest a turn waits for fast sessions' turns to join its batch (docs/serving.md)
    max_requests: int = 64  # requests in flight (uploading, queued, running); beyond: 503 at once
    # connections (serving/server.py): descriptors stay bounded, sockets that send nothing are closed
    max_connections: int = 0  # open connections; past it a new one evicts one stuck before its headers (0: from the fd limit)
    header_timeout_s: float = 10.0  # a request's line and headers must arrive within this (408, closed)
    keep_alive_s: float = 5.0  # an idle kept-alive connection is closed after this
    # who may call (serving/security.py)
    allowed_origins: list[str] = field(default_factory=list)  # other sites' origins allowed ("*": any); empty: same origin only
    allowed_hosts: list[str] = field(default_factory=list)  # Host header names answered; empty: from host (docs/serving.md)
    forwarded_allow_ips: str = ""  # proxies whose X-Forwarded-For/-Proto are trusted, comma-separated ("*": any); "": none
    # operations (serving/metrics.py)
    metrics: bool = False  # GET /metrics in Prometheus text format (aggregate counts, label distribution included)
    log_format: str = "text"  # text: uvicorn's access log; json: one JSON object per request (altsa.access)
    log_text: bool = False  # json log lines carry the utterance texts (off: what people said stays out of logs)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:  # the OS would wrap 99999 silently (to 34463)
            raise ConfigError(f"serve setting port must be between 0 and 65535 (got {self.port!r}; 0: the OS picks a free one)")
        positive = (
            "workers", "max_upload_mb", "max_clip_seconds", "max_text_chars", "max_utterances",
            "max_turns", "max_sessions", "max_video_pixels", "max_video_frames", "max_audio_channels", "max_audio_rate",
            "session_idle_s", "request_timeout_s", "max_requests", "batch_max_turns", "header_timeout_s", "keep_alive_s",
            "max_recording_minutes",
        )  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"serve setting {name} must be > 0 (got {getattr(self, name)!r})")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"serve setting log_format must be text or json (got {self.log_format!r})")
        for name in ("max_queue", "inference_threads", "torch_threads", "batch_wait_ms", "max_connections"):
            if getattr(self, name) < 0:
                raise ConfigError(f"serve setting {name} must be >= 0 (got {getattr(self, name)!r})")

    @property
    def threads(self) -> tuple[int, int]:
        """(inference threads, torch threads) with the automatic values filled in. Why these:
        one core stays free for the event loop (HTTP parsing, JSON), and two model calls with
        fewer torch threads each beat one call with all of them on a small CPU (measured on 2
        cores, one torch thread per call: +20% turns/s and -25% median latency at 8 clients,
        benchmarks/results/load_test.md)."""
        import os

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        inference = self.inference_threads or (2 if cores >= 2 else 1)
        return inference, self.torch_threads or max(1, (cores - 1) // inference)

    def media_limits(self, timeout_s: float) -> MediaLimits:
        """Caps for decoding this server's uploads, stopping ``timeout_s`` seconds from now."""
        import time

        from altsa.data.media import MediaLimits

        return MediaLimits(
            max_pixels=self.max_video_pixels, max_frames=self.max_video_frames, max_channels=self.max_audio_channels,
            max_sample_rate=self.max_audio_rate, deadline=time.monotonic() + max(timeout_s, 0.0),
        )  # fmt: skip

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def max_json_bytes(self, utterances: int) -> int:
        """The largest JSON text that can hold ``utterances`` turns within the limits: 12 bytes
        a character (an escaped surrogate pair) for text and speaker, 3 KB of keys and spacing
        a turn, 64 KB for the rest. Bounds what is parsed before the utterances are counted."""
        return utterances * (12 * (self.max_text_chars + 200) + 3072) + 65536

    @property
    def sessions_enabled(self) -> bool:
        """Sessions are state in one process's memory: with several uvicorn workers sharing one
        socket, a session's turns would land on processes that do not hold it."""
        return self.workers == 1


def resolve_settings(config: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ServeSettings:
    """Defaults <- YAML file ``config`` <- ``overrides`` (the options given on the command line;
    None values are ignored), validated as a whole."""
    from altsa.config import from_dict, to_dict

    names = {f.name for f in fields(ServeSettings)}
    base = _read_serve_config(Path(config), names) if config is not None else ServeSettings()
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ConfigError(f"unknown serve setting(s): {', '.join(unknown)}")
    return from_dict(ServeSettings, {**to_dict(base), **given}, source=str(config or "altsa serve"))


def _read_serve_config(path: Path, names: set[str]) -> ServeSettings:
    """A YAML file of ``ServeSettings`` keys. Unlike experiment configs there are no shipped
    names to fall back on, so a missing file or an experiment config says what a serve config is."""
    from altsa.config import from_dict, read_yaml

    what = f"a serve config is a YAML file of settings such as port: 9000, max_sessions: 50 (keys: {', '.join(sorted(names))}; docs/serving.md)"
    if not path.is_file():
        raise ConfigError(f"no serve config file {str(path)!r}: {what}")
    data = read_yaml(path)
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{path} is not a serve config (unknown keys: {', '.join(unknown)}): {what}")
    return from_dict(ServeSettings, data, source=str(path))
