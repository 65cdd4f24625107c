"""Request-body limits enforced while the body streams in, before anything is parsed.

A declared ``Content-Length`` over the limit is refused at once (413) without reading the
body; a chunked or lying body is cut off as soon as the bytes received pass the limit. The
time to receive the body counts against the request timeout, so a client trickling bytes
(slowloris) frees its slot with a 408 instead of holding it. Requests in flight are capped
too (``max_requests``), which bounds the memory that bodies being read can take.
"""

from __future__ import annotations

import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altsa.serving.errors import ApiError, error_response


_CLOSE = {"Connection": "close"}  # uvicorn closes the connection after such an answer (refused unread)


class BodyLimit:
    """Pure ASGI middleware: cap requests in flight, and body bytes and body-receive time of each."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float, max_requests: int):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_requests = max_requests
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") == "/healthz":  # health answers under load: not counted in max_requests
            await self._limited(scope, receive, send)
            return
        if self.in_flight >= self.max_requests:
            busy = error_response(
                503, "busy", f"{self.in_flight} requests in flight (max_requests); retry shortly", {"Retry-After": "1"}
            )
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._limited(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["altsa_start"] = time.monotonic()
        declared = _content_length(scope)
        if declared == -1:
            await error_response(400, "bad_request", "Content-Length header is not a number")(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await _too_large(self.max_bytes, declared)(scope, receive, send)
            return

        received, finished = 0, not _has_body(scope, declared)
        deadline = time.monotonic() + self.timeout_s

        async def limited() -> Message:
            nonlocal received, finished
            remaining = deadline - time.monotonic()
            try:
                with anyio.fail_after(max(remaining, 0.0)):
                    message = await receive()
            except TimeoutError:
                raise ApiError(  # answered before the body ended: ``closing`` closes the connection
                    408, "upload_timeout", f"request body not received within {self.timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise ApiError(413, "too_large", _too_large_text(self.max_bytes, received, so_far=True))
                finished = not message.get("more_body", False)
            return message

        async def closing(message: Message) -> None:
            # an answer given before the body was read in full (an unknown route or session, a
            # refused form, ...) closes the connection: uvicorn would otherwise read and discard
            # the rest of the body, however long and slow, outside every limit
            if message["type"] == "http.response.start" and not finished:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited, closing)


def _has_body(scope: Scope, declared: int | None) -> bool:
    """Whether the request says a body follows (a length over 0, or a transfer encoding)."""
    if declared:
        return True
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", []))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def _too_large_text(limit: int, size: int, *, so_far: bool = False) -> str:
    size_text = f"request body ({size} bytes received so far)" if so_far else f"request body of {size} bytes"
    return f"{size_text} is over the limit of {limit} bytes (max_upload_mb {limit / 2**20:g})"


def _too_large(limit: int, size: int):
    return error_response(413, "too_large", _too_large_text(limit, size), _CLOSE)
