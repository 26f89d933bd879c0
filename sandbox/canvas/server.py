"""HTTP plumbing: the shared loopback server (``sandbox/serving.py``) as Canvas answers.

A raw server makes dropped connections and truncated bodies easy to produce on purpose.
"""
from __future__ import annotations

from ..serving import LoopbackHTTPServer, LoopbackRequestHandler


class SandboxHTTPServer(LoopbackHTTPServer):
    request_queue_size = 128


class SandboxRequestHandler(LoopbackRequestHandler):
    server_version = "SandboxCanvas/1.0"
    timeout = 120  # idle keep-alive connections are closed after this many seconds

    do_PATCH = LoopbackRequestHandler.do_GET
