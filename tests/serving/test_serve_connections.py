"""Connection-level limits of a real uvicorn (serving/server.py): sockets that send nothing or
half a header are closed, headers are bounded, and past the connection cap a new client
evicts a stuck socket instead of being locked out."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from altsa.serving.app import create_app
from altsa.serving.config import ServeSettings

from conftest import LiveServer  # noqa: E402  (tests/serving/conftest.py, on the path)


@pytest.fixture
def guarded(recognizer):
    def start(**settings) -> LiveServer:
        return LiveServer(create_app(recognizer, ServeSettings(**settings)))

    return start


def _read_all(sock: socket.socket, wait_s: float = 5.0) -> bytes:
    """Everything the server sends until it closes (or ``wait_s`` passes: then the socket is
    still open and the result is what came so far)."""
    sock.settimeout(wait_s)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except TimeoutError:
        return out + b"<still open>"
    except ConnectionResetError:  # closed with our unread bytes in its buffer: TCP resets
        return out + b"<reset>"
    return out


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "])
def test_sockets_stuck_before_their_headers_are_closed(guarded, sent):
    with guarded(header_timeout_s=0.5) as server, _connect(server.port) as s:
        s.sendall(sent)
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.1 408") and b'"header_timeout"' in reply, reply[:200]


def test_headers_arriving_in_time_are_served_and_idle_keep_alive_is_closed(guarded):
    with guarded(header_timeout_s=2.0, keep_alive_s=0.5) as server, _connect(server.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(0.3)  # slow, but well within the header timeout
        s.sendall(b"Host: 127.0.0.1\r\n\r\n")
        reply = _read_all(s)  # then idle: closed after keep_alive_s
    assert reply.startswith(b"HTTP/1.1 200") and not reply.endswith(b"<still open>"), reply[-100:]


def test_endless_headers_are_cut_off(guarded):
    with guarded() as server, _connect(server.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for i in range(200):
                s.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000))
        except OSError:
            pass  # closed on us mid-send: what we want
        reply = _read_all(s)
    # the 431 answer, unless the reset (our bytes unread when it closed) overtook it
    assert reply.startswith(b"HTTP/1.1 431") or reply == b"<reset>", reply[:200]


@pytest.mark.parametrize("size_kb", [70, 120])
def test_a_large_header_block_in_one_write_is_refused(guarded, size_kb):
    """Over the 64 KB cap but complete within one or two reads: still 431, never served."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (size_kb * 1024) + b"\r\n\r\n"
    with guarded() as server, _connect(server.port) as s:
        try:
            s.sendall(request)
        except OSError:
            pass
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.1 431") or reply == b"<reset>", reply[:200]
    assert b"HTTP/1.1 200" not in reply


def test_a_body_in_the_same_write_as_the_headers_is_not_counted_as_header(guarded):
    body = b'{"utterances": [' + b", ".join([b'{"speaker": "A", "text": "' + b"b" * 1500 + b'"}'] * 5) + b"]}"
    head = b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    pad = b"X-Pad: " + b"p" * 60_000 + b"\r\n"  # headers just under the cap, body on top of it
    request = head + pad + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
    assert len(request) > 64 * 1024 > len(request) - len(body)
    with guarded() as server, _connect(server.port) as s:
        s.sendall(request)
        reply = _read_all(s, wait_s=30)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]


def test_past_the_cap_a_new_client_evicts_a_stuck_socket(guarded):
    with guarded(max_connections=4, header_timeout_s=30) as server:
        idle = [_connect(server.port) for _ in range(4)]
        time.sleep(0.2)
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for _ in range(3):
                assert c.get("/healthz").status_code == 200
        evicted = [_read_all(s, wait_s=0.5) for s in idle]
        for s in idle:
            s.close()
    assert evicted[0].startswith(b"HTTP/1.1 408") and b'"evicted"' in evicted[0], evicted  # the oldest went first
    assert evicted[-1].endswith(b"<still open>"), evicted


def test_a_kept_alive_idle_connection_is_evicted_before_none(guarded):
    with guarded(max_connections=2, header_timeout_s=30, keep_alive_s=30) as server:
        with _connect(server.port) as kept:
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert kept.recv(65536).startswith(b"HTTP/1.1 200")  # answered, now idle on keep-alive
            with _connect(server.port) as busy:
                busy.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
                time.sleep(0.2)  # a body on its way: being served, never evicted
                with httpx.Client(base_url=server.url, timeout=10) as c:
                    assert c.get("/healthz").status_code == 200
                assert _read_all(kept, wait_s=2) == b""  # closed without a word, as keep-alive allows
                assert _read_all(busy, wait_s=0.3).endswith(b"<still open>")


def test_past_the_cap_with_nothing_to_evict_a_new_socket_is_refused(guarded):
    with guarded(max_connections=2, header_timeout_s=30) as server:
        busy = [_connect(server.port) for _ in range(2)]
        for s in busy:  # requests whose bodies are still coming: being served
            s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.2)
        with _connect(server.port) as extra:
            reply = _read_all(extra)
        for s in busy:
            s.close()
        time.sleep(0.2)
        with httpx.Client(base_url=server.url, timeout=10) as c:
            assert c.get("/healthz").status_code == 200  # room again once they went
    assert reply.startswith(b"HTTP/1.1 503") and b'"too_many_connections"' in reply, reply[:200]


def _send_until_closed(sock: socket.socket, more: bytes, seconds: float) -> tuple[bytes, bool]:
    """Keep sending ``more`` (a body the server may have stopped reading) and collect the
    reply, until the server closes the connection or ``seconds`` pass: (reply, closed)."""
    reply = b""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.sendall(more)
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:  # reset or broken pipe: closed
            return reply, True
        if chunk == b"":
            return reply, True
        reply += chunk
    return reply, False


@pytest.mark.parametrize("case", ["slow", "over"])
def test_a_refused_body_closes_its_connection(guarded, case):
    """A body trickled past the request timeout (408) or streamed past the size cap (413): the
    answer says ``connection: close`` and the server closes the socket, so the client cannot
    keep it by sending more bytes."""
    with guarded(request_timeout_s=1.0, max_upload_mb=0.01) as server, _connect(server.port) as s:
        size = 5_000 if case == "slow" else 50_000
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                  b"transfer-encoding: chunked\r\n\r\n" if case == "over" else
                  b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                  b"content-length: %d\r\n\r\n" % size)  # fmt: skip
        more = b"x" if case == "slow" else b"1000\r\n" + b"x" * 0x1000 + b"\r\n"
        reply, closed = _send_until_closed(s, more, seconds=6)
    status = b"HTTP/1.1 408" if case == "slow" else b"HTTP/1.1 413"
    assert reply.startswith(status), reply[:200]
    assert b"connection: close" in reply.lower()
    assert closed, "the server kept the connection open after refusing the body"


@pytest.mark.parametrize("path", ["/nope", "/v1/sessions/nope/utterances", "/healthz"])
def test_an_answer_before_the_body_is_read_closes_the_connection(guarded, path):
    """An unknown route or session answered before its body was read: the connection closes,
    so the client cannot go on sending a body nobody reads (outside every time and size limit)."""
    with guarded(request_timeout_s=30) as server, _connect(server.port) as s:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                  b"content-length: 50000\r\n\r\n{" % path.encode())
        reply, closed = _send_until_closed(s, b" ", seconds=5)
    assert reply.startswith(b"HTTP/1.1 "), reply[:200]
    assert b"connection: close" in reply.lower()
    assert closed, "the server kept reading a body it had already answered"


def test_a_body_read_in_full_keeps_the_connection_alive(guarded):
    body = b'{"utterances": [{"speaker": "A", "text": "hello there"}]}'
    request = (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
               b"content-length: %d\r\n\r\n" % len(body)) + body
    with guarded() as server, _connect(server.port) as s:
        s.sendall(request)
        s.settimeout(30)
        first = s.recv(65536)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        second = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower(), first[:300]
    assert second.startswith(b"HTTP/1.1 200"), second[:200]
