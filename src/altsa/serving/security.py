"""Who may call the service: the Host a request names, and the site a browser sends it from.

- **DNS rebinding.** A web page on ``evil.example`` can make its own name resolve to
  127.0.0.1 and then read a service on the user's loopback as "same origin". The browser
  still sends ``Host: evil.example``, so requests naming a host this server does not answer
  to are refused (400 ``host_not_allowed``). Names answered: ``--allowed-hosts``; by default
  the loopback names for a loopback ``--host``, that address for a specific one, and for a
  wildcard (0.0.0.0, ::) any IP literal plus localhost and this machine's host name.
- **Cross-origin "simple" requests.** A page the user visits can POST a form (no CORS
  preflight) to the service and create sessions or run predictions. Browsers send
  ``Origin`` with such requests: one that is neither this server itself (same host and port)
  nor in ``--allowed-origins`` is refused (403 ``origin_not_allowed``). Requests without
  ``Origin`` (curl, programs) are not browser cross-site requests and pass. Allowed other
  origins also get CORS headers (Starlette's ``CORSMiddleware``) so their pages can read
  the answers.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from altsa.serving.config import ServeSettings
from altsa.serving.errors import error_response

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_WILDCARD = {"0.0.0.0", "::", ""}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _is_loopback(name: str) -> bool:
    return name == "localhost" or (_is_ip(name) and ipaddress.ip_address(name).is_loopback)


def host_names(settings: ServeSettings) -> tuple[set[str] | None, bool]:
    """(Host names answered, or None for any; whether any IP literal is answered too)."""
    given = [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
    if given:
        return (None, True) if "*" in given else (set(given), False)
    host = settings.host.strip().lower()
    if host in _WILDCARD:
        names = set(_LOOPBACK)
        for name in (socket.gethostname(), socket.getfqdn()):
            if name:
                names.add(name.lower())
        return names, True
    if _is_loopback(host):
        return _LOOPBACK | {host}, False
    return {host}, False


def _split_host(value: str) -> tuple[str, str]:
    """``Host`` header -> (name, port), IPv6 brackets removed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest.lstrip(":")
    name, _, port = value.partition(":")
    return name, port


def _netloc(origin: str) -> str | None:
    """``scheme://host[:port]`` -> ``host:port`` with the scheme's default port filled in."""
    try:
        parts = urlsplit(origin)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return f"{parts.hostname.lower()}:{port}"


class RequestGate:
    """Pure ASGI middleware: refuse requests naming another Host or sent from another site."""

    def __init__(self, app: ASGIApp, settings: ServeSettings):
        self.app = app
        self.names, self.any_ip = host_names(settings)
        self.origins = {o.strip().rstrip("/").lower() for o in settings.allowed_origins if o.strip()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        problem = self._check(host, origin, scope.get("scheme", "http"))
        if problem is not None:
            status, code, message = problem
            # refused before its body is read: closed after the answer, so the body is never read
            await error_response(status, code, message, {"Vary": "Origin", "Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, host: str | None, origin: str | None, scheme: str) -> tuple[int, str, str] | None:
        if host is not None and self.names is not None:
            name, _ = _split_host(host)
            if name not in self.names and not (self.any_ip and _is_ip(name)):
                return 400, "host_not_allowed", f"this server does not answer to host {name!r} (see --allowed-hosts)"
        if origin is None or "*" in self.origins:
            return None
        wanted = origin.strip().rstrip("/").lower()
        if wanted in self.origins:
            return None
        if host is not None and wanted != "null":
            name, port = _split_host(host)
            default = {"http": "80", "https": "443"}.get(scheme, "")
            here = f"{name}:{port or default}"
            # same origin: the page was served by this host and port (scheme aside: a TLS proxy
            # in front makes the page https while this server sees http)
            there = _netloc(wanted)
            if there is not None and (there == here or there.rsplit(":", 1)[0] == name and not port):
                return None
        return 403, "origin_not_allowed", (
            f"requests from web pages at {origin.strip()[:100]!r} are not allowed (see --allowed-origins)"
        )
