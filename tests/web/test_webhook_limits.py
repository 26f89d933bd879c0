"""Webhook bodies are limited before they are read: a 600 MB chunked push over a real socket gets 413 at once."""
from __future__ import annotations

import select
import socket
import time
from urllib.parse import urlsplit

import psutil
import pytest

from tests.helpers import serving

CHUNK = b"x" * (64 * 1024)
TOTAL = 600 * 1024 * 1024


def chunked_body():
    """600 MB as HTTP chunks, from one reused 64 KB block: the sender itself holds no more than that."""
    sent = 0
    while sent < TOTAL:
        yield b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
        sent += len(CHUNK)
    yield b"0\r\n\r\n"


def push_chunked(base_url: str, path: str, deadline_s: float = 60) -> tuple[bytes, int, int]:
    """Stream the body until the server answers; returns (answer, bytes sent, peak RSS of this process)."""
    me = psutil.Process()
    peak = me.memory_info().rss
    url = urlsplit(base_url)
    sent = 0
    answer = b""
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\nX-Discourse-Event-Signature: sha256=00\r\n\r\n".encode())
        deadline = time.monotonic() + deadline_s
        chunks = chunked_body()
        pending = next(chunks)
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 1.0)
            if readable:
                data = sock.recv(65536)
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
            if writable and pending:
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending = b""
                    continue
                sent += n
                pending = pending[n:] or next(chunks, b"")
                if sent % (16 * len(CHUNK)) < n:
                    peak = max(peak, me.memory_info().rss)
        peak = max(peak, me.memory_info().rss)
    return answer, sent, peak


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", ["/webhooks/discourse", "/webhooks/canvas"])
def test_a_600_mb_chunked_push_gets_413_and_the_app_barely_grows(app, path):
    with serving(app, "webhook-limit-server") as base_url:
        before = psutil.Process().memory_info().rss
        answer, sent, peak = push_chunked(base_url, path)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < TOTAL // 10  # refused while most of the body was still unsent
    assert peak - before < 20 * 1024 * 1024


def test_a_declared_length_over_the_limit_is_refused_unread(app, client):
    refused = client.post("/webhooks/discourse", data=b"{}", environ_overrides={"CONTENT_LENGTH": str(600 * 1024 * 1024)})
    assert refused.status_code == 413
    assert refused.get_json() == {"error": "The push is too large."}
