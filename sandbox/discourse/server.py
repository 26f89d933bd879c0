"""HTTP plumbing: a stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive.

Each response goes out in one write with a Content-Length, so a pooled client reuses its
connections; ``drop`` closes a socket without answering (a fault on purpose).
"""
from __future__ import annotations

import socket
import sys
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, sandbox):
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def untrack(self, conn) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def close_all_connections(self) -> None:
        with self._conn_lock:
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            for close in (lambda: conn.shutdown(socket.SHUT_RDWR), conn.close):
                try:
                    close()
                except OSError:
                    pass


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 60

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if getattr(self.server.sandbox, "verbose", False):
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    def _dispatch(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        body = self.rfile.read(n) if n > 0 else b""
        self.server.sandbox.handle_http(self, body)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def send_raw(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}", f"Server: {self.server_version}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            self.close_connection = True
            return
        self.log_request(status, len(body))

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
