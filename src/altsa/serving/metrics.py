"""What a running service is watched by: Prometheus metrics and one JSON log line per request.

``ServiceMetrics`` holds the app's own ``CollectorRegistry`` (``prometheus-client``), exposed
at ``GET /metrics`` with ``--metrics``: requests by route and status, latency per route,
predictions per label (label drift), absent modalities by reason, active sessions,
micro-batch sizes, and requests refused by a limit (by error code, connection-level ones
included). ``Observe`` is the outermost ASGI middleware: it times every request, reads the
route template (not the raw path: session ids would make one series per session), and, for
an error, the ``code`` of the JSON body. With ``--log-format json`` it also writes one JSON
object per request to the ``altsa.access`` logger: no utterance text unless ``--log-text``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("altsa.access")

# error codes that mean "refused by a limit" (docs/serving.md lists them)
LIMIT_CODES = frozenset({
    "too_large", "text_too_long", "too_many_utterances", "clip_too_long", "clip_too_large", "session_full",
    "too_many_sessions", "busy", "session_busy", "timeout", "upload_timeout", "host_not_allowed",
    "origin_not_allowed", "header_timeout", "evicted", "headers_too_large", "too_many_connections",
})  # fmt: skip
_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """The service's metrics, in a registry of its own (one per app: tests build many)."""

    def __init__(self, max_batch: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("altsa_requests", "HTTP requests answered", ["route", "method", "status"], registry=r)
        self.latency = Histogram("altsa_request_seconds", "Time from request start to the end of the answer",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.predictions = Counter("altsa_predictions", "Utterances predicted, by predicted label", ["label"], registry=r)
        self.absent = Counter("altsa_absent_modalities", "Predicted utterances whose modality was not used, by reason",
                              ["modality", "reason"], registry=r)  # fmt: skip
        self.sessions = Gauge("altsa_sessions_active", "Live sessions held", registry=r)
        self.batch = Histogram("altsa_batch_turns", "Session turns per batched model call",
                               buckets=tuple(float(b) for b in range(1, max(2, max_batch) + 1)), registry=r)  # fmt: skip
        self.rejected = Counter("altsa_rejected", "Requests or connections refused by a limit, by error code", ["code"], registry=r)

    def observe_predictions(self, predictions: list[Any]) -> None:
        for p in predictions:
            d = p.to_dict() if hasattr(p, "to_dict") else dict(p)
            self.predictions.labels(d["label"]).inc()
            for modality, reason in (d.get("absent") or {}).items():
                self.absent.labels(modality, reason).inc()

    def reject(self, code: str) -> None:
        self.rejected.labels(code).inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _route(scope: Scope) -> str:
    """The route template, prefixed by the mount it was reached through (``/models/<name>``):
    Starlette's Mount extends ``root_path`` beyond ``app_root_path``, the server's own."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path:
        return "unmatched"
    base, root = scope.get("app_root_path"), scope.get("root_path", "")
    mount = root[len(base):] if isinstance(base, str) and root.startswith(base) else ""
    return mount + path


class Observe:
    """Pure ASGI middleware: count, time and (optionally) log every HTTP request."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, log_json: bool, log_text: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.log_json = log_json
        self.log_text = log_text

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("altsa_observed"):
            # a model mounted under /models/<name>/ is an app with this middleware too: the
            # outer one counts and logs the request (once), with the mount in its route
            await self.app(scope, receive, send)
            return
        scope["altsa_observed"] = True
        start = time.perf_counter()
        status = 500
        error_body = bytearray()
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400 and len(error_body) < 4096:
                error_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        finally:
            self._record(scope, status, bytes(error_body), received, time.perf_counter() - start)

    def _record(self, scope: Scope, status: int, error_body: bytes, received: int, seconds: float) -> None:
        route = _route(scope)
        m = self.metrics
        m.requests.labels(route, scope.get("method", ""), str(status)).inc()
        m.latency.labels(route).observe(seconds)
        code = ""
        if status >= 400:
            try:
                code = str(json.loads(error_body)["error"]["code"])
            except (ValueError, KeyError, TypeError):
                code = ""
            if code in LIMIT_CODES:
                m.reject(code)
        if not self.log_json:
            return
        state = scope.get("state") or {}
        client = scope.get("client")
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "method": scope.get("method", ""),
            "route": route,
            "path": scope.get("path", ""),
            "status": status,
            "ms": round(seconds * 1000, 2),
            "bytes_in": received,
            "client": client[0] if client else None,
        }
        if code:
            line["error"] = code
        if "altsa_labels" in state:
            line["labels"] = state["altsa_labels"]
        if "altsa_session" in state:
            line["session"] = state["altsa_session"]
        if self.log_text and "altsa_texts" in state:
            line["texts"] = state["altsa_texts"]
        access_log.info(json.dumps(line, ensure_ascii=False))


def note(scope: Scope, *, labels: list[str] | None = None, texts: list[str] | None = None, session: str | None = None) -> None:
    """Routes leave what the access log line may say about the request in its scope state."""
    state = scope.setdefault("state", {})
    if labels is not None:
        state["altsa_labels"] = labels
    if texts is not None:
        state["altsa_texts"] = texts
    if session is not None:
        state["altsa_session"] = session
