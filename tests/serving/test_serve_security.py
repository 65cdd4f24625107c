"""Who may call: the Host header (DNS rebinding), the Origin of browser requests (cross-site
"simple" requests need no preflight), and X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from altsa.serving.app import create_app
from altsa.serving.config import ServeSettings
from altsa.serving.security import host_names
from altsa.serving.server import uvicorn_config

OK = {"utterances": [{"speaker": "A", "text": "hello there"}]}


def _client(recognizer, **settings) -> TestClient:
    return TestClient(base_url="http://localhost:8000", app=create_app(recognizer, ServeSettings(**settings)))


def _code(r) -> str:
    return r.json()["error"]["code"] if r.headers.get("content-type", "").startswith("application/json") and "error" in r.json() else ""


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "192.168.1.5"])
def test_rebinding_hosts_are_refused_on_a_loopback_server(recognizer, host):
    client = _client(recognizer)
    r = client.get("/v1/model", headers={"host": host})
    assert r.status_code == 400 and _code(r) == "host_not_allowed", r.text
    assert "--allowed-hosts" in r.json()["error"]["message"]
    r = client.post("/v1/sessions", headers={"host": host})
    assert r.status_code == 400 and client.get("/healthz").json()["sessions"] == 0
    assert r.headers["connection"] == "close"


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"])
def test_loopback_names_are_answered(recognizer, host):
    assert _client(recognizer).get("/v1/model", headers={"host": host}).status_code == 200


def test_host_names_follow_the_bind_address_and_the_option():
    assert host_names(ServeSettings()) == ({"localhost", "127.0.0.1", "::1"}, False)
    names, any_ip = host_names(ServeSettings(host="0.0.0.0"))
    assert any_ip and "localhost" in names and socket.gethostname().lower() in names
    assert host_names(ServeSettings(host="10.0.0.7")) == ({"10.0.0.7"}, False)
    assert host_names(ServeSettings(allowed_hosts=["api.example.com"])) == ({"api.example.com"}, False)
    assert host_names(ServeSettings(allowed_hosts=["*"])) == (None, True)


def test_wildcard_bind_answers_ip_literals_but_not_foreign_names(recognizer):
    client = _client(recognizer, host="0.0.0.0")
    assert client.get("/v1/model", headers={"host": "10.1.2.3:8000"}).status_code == 200
    assert client.get("/v1/model", headers={"host": f"{socket.gethostname()}:8000"}).status_code == 200
    assert _code(client.get("/v1/model", headers={"host": "evil.example"})) == "host_not_allowed"
    named = _client(recognizer, host="0.0.0.0", allowed_hosts=["api.example.com"])
    assert named.get("/v1/model", headers={"host": "api.example.com"}).status_code == 200
    assert _code(named.get("/v1/model", headers={"host": "localhost"})) == "host_not_allowed"


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:9999", "null", "http://127.0.0.1.evil.example:8000"])
def test_cross_site_simple_requests_are_refused(recognizer, origin):
    """A page elsewhere POSTs without a preflight (form or text/plain): nothing happens."""
    client = _client(recognizer)
    r = client.post("/v1/sessions", headers={"origin": origin})
    assert r.status_code == 403 and _code(r) == "origin_not_allowed", r.text
    r = client.post("/v1/predict", data={"conversation": '{"utterances": [{"text": "hi"}]}'}, headers={"origin": origin})
    assert r.status_code == 403
    r = client.post("/v1/predict", content=b'{"utterances": [{"text": "hi"}]}', headers={"origin": origin, "content-type": "text/plain"})
    assert r.status_code == 403
    assert r.headers["connection"] == "close"  # refused unread: the body is never read, the connection closes
    assert client.get("/healthz").json()["sessions"] == 0


def test_same_origin_and_non_browser_requests_pass(recognizer):
    client = _client(recognizer)
    assert client.post("/v1/sessions", headers={"origin": "http://localhost:8000"}).status_code == 201  # the page itself
    assert client.post("/v1/sessions").status_code == 201  # curl, programs: no Origin
    behind_tls = _client(recognizer, allowed_hosts=["api.example.com"])  # a TLS proxy: page https, Host without port
    r = behind_tls.post("/v1/predict", json=OK, headers={"host": "api.example.com", "origin": "https://api.example.com"})
    assert r.status_code == 200


def test_allowed_origins_get_cors_headers(recognizer):
    client = _client(recognizer, allowed_origins=["https://app.example"])
    r = client.post("/v1/predict", json=OK, headers={"origin": "https://app.example"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
    pre = client.options("/v1/predict", headers={"origin": "https://app.example", "access-control-request-method": "POST",
                                                 "access-control-request-headers": "content-type"})  # fmt: skip
    assert pre.status_code == 200 and "POST" in pre.headers["access-control-allow-methods"]
    assert _code(client.post("/v1/predict", json=OK, headers={"origin": "https://other.example"})) == "origin_not_allowed"
    anyone = _client(recognizer, allowed_origins=["*"])
    assert anyone.post("/v1/predict", json=OK, headers={"origin": "https://other.example"}).status_code == 200


# --------------------------------------------------------------------------- X-Forwarded-For


async def _echo_client(scope, receive, send):
    """A bare ASGI app answering with the client address uvicorn put in the scope."""
    if scope["type"] != "http":
        return
    body = f"{scope['client'][0]} {scope['scheme']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def _seen(settings: ServeSettings) -> str:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(_echo_client, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        return httpx.get(f"http://127.0.0.1:{port}/", headers={"x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https"}).text
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted():
    assert _seen(ServeSettings()) == "127.0.0.1 http"  # uvicorn alone would trust 127.0.0.1's claim
    assert _seen(ServeSettings(forwarded_allow_ips="127.0.0.1")) == "6.6.6.6 https"
