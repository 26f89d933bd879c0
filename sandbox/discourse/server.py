"""HTTP plumbing: the shared loopback server (``sandbox/serving.py``) as Discourse's nginx answers."""
from __future__ import annotations

from ..serving import LoopbackHTTPServer, LoopbackRequestHandler


class SandboxHTTPServer(LoopbackHTTPServer):
    request_queue_size = 64


class SandboxRequestHandler(LoopbackRequestHandler):
    server_version = "nginx"
    timeout = 60
