"""Every failure becomes ``{"error": {"code", "message"}}`` with a 4xx/5xx status.

Clients get one shape for all errors: validation (400/422), unknown routes and sessions
(404), limits (408/409/413/429), overload (503/504). A 500 means a bug in altsa; it is
logged with its traceback and the client sees no internals.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from altsa.data.media import DecodeTimeout
from altsa.errors import AltsaError, ModelError

log = logging.getLogger("altsa.serving")


class ApiError(Exception):
    """An error the service answers on purpose, with its status and stable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match) -> str:
    n = ord(match.group())
    return f"\\x{n:02x}" if n < 256 else f"\\u{n:04x}"


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape. The message stays one printable line: what a client sent and an
    error echoes (an unknown key, a field name) has its control characters escaped."""
    message = _CONTROL.sub(_escape, message)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
}


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_response(errors: list[dict]) -> JSONResponse:
    """Pydantic/FastAPI validation errors -> one line naming the first bad field."""
    first = errors[0] if errors else {"type": "invalid", "loc": (), "msg": "invalid request"}
    kind = first.get("type", "")
    if kind == "json_invalid":
        ctx = first.get("ctx") or {}
        return error_response(400, "malformed_json", f"request body is not valid JSON ({ctx.get('error', 'parse error')})")
    if kind == "path_not_allowed":
        return error_response(422, "path_not_allowed", first["msg"])
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    msg = first.get("msg", "invalid value")
    return error_response(422, "invalid_request", f"{_where(tuple(first.get('loc', ())))}: {msg}{more}")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.code, err.message, err.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        return validation_response(list(err.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(err.status_code, "http_error")
        return error_response(err.status_code, code, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(ModelError)
    async def _model(_: Request, err: ModelError) -> JSONResponse:
        log.error("model error while serving: %s", err)
        return error_response(500, err.code, str(err))

    @app.exception_handler(DecodeTimeout)
    async def _decode_timeout(_: Request, err: DecodeTimeout) -> JSONResponse:
        # A clip still decoding when its request timed out: the work was stopped, nothing recorded.
        return error_response(504, "timeout", "decoding the clip did not finish within the request timeout; it was stopped")

    @app.exception_handler(AltsaError)
    async def _altsa(_: Request, err: AltsaError) -> JSONResponse:
        # Raised by our own components on a user's input (bad media, bad data): say what.
        return error_response(422, err.code, err.message)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, __: ClientDisconnect) -> JSONResponse:
        # The client left mid-upload; nobody reads this answer, but it must not count as a bug.
        return error_response(400, "client_disconnected", "the client disconnected before the body was complete")

    @app.exception_handler(Exception)
    async def _bug(request: Request, err: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path, exc_info=err)
        return error_response(500, "internal", "internal error (a bug in altsa; it was logged on the server)")


def small_int(text: str, digits: int = 6, *, strip: bool = True) -> int | None:
    """``text`` as a non-negative integer of at most ``digits`` ASCII digits, else None: what a
    client writes as an index or a count (``str.isdigit`` also accepts "²", which ``int`` refuses).
    ``strip``: spaces around it are allowed (a form value, not a field name)."""
    text = text.strip() if strip else text
    if not (0 < len(text) <= digits and text.isascii() and text.isdigit()):
        return None
    return int(text)
