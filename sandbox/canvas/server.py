"""HTTP plumbing: a stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive.

Each response is written in one ``sendall`` with a Content-Length (no Nagle stalls, a
pooled client reuses its connections). A raw server makes dropped connections and
truncated bodies easy to produce on purpose.
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
    request_queue_size = 128

    def __init__(self, address, handler, sandbox):
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def close_all_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxCanvas/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds

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
        length = self.headers.get("Content-Length")
        try:
            n = int(length) if length else 0
        except ValueError:
            n = 0
        body = self.rfile.read(n) if n > 0 else b""
        self.server.sandbox._handle_http(self, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    # ----------------------------------------------------------------- writing
    def send_raw(self, status: int, headers: list[tuple[str, str]], body: bytes, *, truncate: bool = False) -> None:
        """Write a whole response at once. ``truncate`` sends half the body and closes the socket."""
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}",
                 f"Server: {self.server_version}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        if status != 304:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection or truncate:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = body if status != 304 else b""
        if truncate:
            payload = payload[: max(1, len(payload) // 2)] if payload else b""
        try:
            self.wfile.write(head + payload)
        except OSError:
            self.close_connection = True
            return
        self.log_request(status, len(payload))
        if truncate:
            self.drop()

    def drop(self) -> None:
        """Close the connection without (the rest of) a response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
