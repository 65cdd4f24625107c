"""uvicorn, with the connection-level limits a service facing untrusted clients needs.

uvicorn closes a keep-alive connection idle between requests (``timeout_keep_alive``), but
a connection that sends nothing, or half a request header, is held forever: a few hundred
of them use up the process's file descriptors and lock every client out. Its
``limit_concurrency`` answers 503 to new *requests* once connections reach the limit, while
the idle sockets themselves stay. ``GuardedHttpTools`` (uvicorn's httptools protocol, one
subclass) adds what is missing:

- **header timeout**: a request's line and headers must arrive within ``header_timeout_s``
  of the connection opening (or of the first byte of a later request on the same
  connection); else the server answers 408 and closes it;
- **header size**: more than ``_MAX_HEADER_BYTES`` without the headers ending: 431, closed;
- **connection cap**: past ``max_connections`` a new connection evicts the socket that has
  waited longest for its headers (an idle or half-sent socket, what a slowloris holds;
  answered 408), or when there is none, the connection idle longest between requests on
  keep-alive (closed, as HTTP allows); never one whose request is being read or served. With none to evict, the new
  connection is refused (503). So descriptors stay bounded below the process limit, and a
  client that connects and sends its request is not locked out by sockets doing nothing:
  they are always older than it.

``X-Forwarded-For`` / ``-Proto`` are honoured only from ``forwarded_allow_ips`` (uvicorn
trusts 127.0.0.1 by default, which on a loopback server is every local client).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from altsa.serving.config import ServeSettings

_MAX_HEADER_BYTES = 64 * 1024  # request line + headers (uvicorn itself sets no limit with httptools)


def _reply(transport: asyncio.Transport, status: str, code: str, message: str, on_reject: Any = None) -> None:
    """A JSON error (the service's shape) written straight on the socket, then close."""
    if on_reject is not None:
        on_reject(code)  # counted with the app's refusals (/metrics)
    body = ('{"error": {"code": "%s", "message": "%s"}}' % (code, message)).encode()
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    transport.write(head.encode() + body)
    transport.close()


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a header timeout, a header size cap and a connection
    cap that evicts sockets stuck before their headers (module docstring)."""

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s: float = getattr(config, "altsa_header_timeout_s", 10.0)
        self.max_connections: int | None = getattr(config, "altsa_max_connections", None)
        self.on_reject = getattr(config, "altsa_on_reject", None)
        self.waiting_since: float | None = None  # monotonic time the current request's headers became due
        self.idle_since: float | None = None  # monotonic time a kept-alive connection's last response ended
        self.header_bytes, self.header_tail = 0, b""  # bytes of the current request's head; its last 3
        self.header_timer: asyncio.TimerHandle | None = None

    # -- the header clock ----------------------------------------------------------------------

    def _await_headers(self) -> None:
        self.waiting_since = time.monotonic()
        self.header_bytes, self.header_tail = 0, b""
        if self.header_timer is not None:
            self.header_timer.cancel()
        self.header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _headers_arrived(self) -> None:
        self.waiting_since = None
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout(self) -> None:
        self.header_timer = None
        if self.waiting_since is not None and not self.transport.is_closing():
            _reply(self.transport, "408 Request Timeout", "header_timeout",
                   f"request headers not received within {self.header_timeout_s:g} s", self.on_reject)  # fmt: skip

    # -- uvicorn's callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            self._make_room()

    def _make_room(self) -> None:
        """Evict a socket stuck before its headers (the oldest), else the connection idle
        longest on keep-alive (a client reusing it just then sees it closed, so only when no
        stuck socket is left), else refuse the new connection."""
        live = [c for c in self.connections if c is not self and not c.transport.is_closing()]
        stuck = [c for c in live if getattr(c, "waiting_since", None) is not None]
        if stuck:
            oldest = min(stuck, key=lambda c: c.waiting_since)
            _reply(oldest.transport, "408 Request Timeout", "evicted",
                   "connection closed to make room: no request headers received", self.on_reject)  # fmt: skip
            self.connections.discard(oldest)
            return
        idle = [c for c in live if getattr(c, "idle_since", None) is not None]
        if idle:
            oldest = min(idle, key=lambda c: c.idle_since)
            if self.on_reject is not None:
                self.on_reject("evicted")
            oldest.transport.close()  # ordinary keep-alive behaviour: an idle connection may close
            self.connections.discard(oldest)
            return
        _reply(self.transport, "503 Service Unavailable", "too_many_connections",
               f"{len(self.connections) - 1} connections open, all busy (max_connections); retry shortly", self.on_reject)  # fmt: skip
        self.connections.discard(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # counted before uvicorn parses the bytes: a header block that ends within this read
        # would otherwise reach the app unchecked (the count stops at the blank line: body
        # bytes in the same read are not header bytes)
        if self.waiting_since is not None and not self.transport.is_closing():
            seen = self.header_tail + data
            end = seen.find(b"\r\n\r\n")
            self.header_bytes += len(data) if end < 0 else end + 4 - len(self.header_tail)
            self.header_tail = seen[-3:]
            if self.header_bytes > _MAX_HEADER_BYTES:
                _reply(self.transport, "431 Request Header Fields Too Large", "headers_too_large",
                       f"request line and headers over {_MAX_HEADER_BYTES} bytes", self.on_reject)  # fmt: skip
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.idle_since = None
        if self.waiting_since is None:  # a later request on a kept-alive connection: its clock starts now
            self._await_headers()

    def on_headers_complete(self) -> None:
        self._headers_arrived()
        super().on_headers_complete()

    def on_response_complete(self) -> None:  # idle now, until the next request or uvicorn's keep-alive timer
        super().on_response_complete()
        if not self.transport.is_closing() and self.waiting_since is None and not self.pipeline:
            self.idle_since = time.monotonic()


def max_connections(settings: ServeSettings) -> int:
    """``settings.max_connections``, or (0) what the file-descriptor limit allows: the soft
    ``RLIMIT_NOFILE`` less 64 for everything else the process holds, at most 1000."""
    if settings.max_connections:
        return settings.max_connections
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            soft = 1 << 20
    except (ImportError, OSError, ValueError):  # no resource module (Windows)
        soft = 1024
    return max(8, min(1000, soft - 64))


def uvicorn_config(app: Any, settings: ServeSettings, *, log_level: str = "info", **extra: Any) -> Any:
    """The ``uvicorn.Config`` of ``altsa serve`` (also used by the tests' live server)."""
    import uvicorn

    limit = max_connections(settings)
    forwarded = settings.forwarded_allow_ips.strip()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=_log_config(),
        access_log=settings.log_format != "json",  # json: the app writes its own line per request
        http=GuardedHttpTools,
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=limit + 1,  # requests in flight: each holds a connection, which the cap bounds
        proxy_headers=bool(forwarded),
        forwarded_allow_ips=forwarded or None,
        server_header=False,
        timeout_graceful_shutdown=5,
        **extra,
    )
    config.altsa_header_timeout_s = settings.header_timeout_s
    config.altsa_max_connections = limit
    service = getattr(getattr(app, "state", None), "service", None)  # one process: its metrics count refusals here too
    config.altsa_on_reject = service.metrics.reject if service is not None else None
    return config


def _log_config() -> dict[str, Any]:
    """uvicorn's logging config plus the ``altsa.access`` logger (JSON lines on stdout)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["formatters"]["altsa_plain"] = {"format": "%(message)s"}
    cfg["handlers"]["altsa_access"] = {"formatter": "altsa_plain", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    cfg["loggers"]["altsa.access"] = {"handlers": ["altsa_access"], "level": "INFO", "propagate": False}
    return cfg


def run(config: Any) -> bool:
    """Serve ``config`` until stopped, as ``uvicorn.run`` would: one process, or
    ``config.workers`` processes sharing one socket. False when the server never started
    (uvicorn has logged why, e.g. the port is taken)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return True
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return server.started
