"""Loopback HTTP plumbing every sandbox shares (standard library only, never ``app``).

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 speaking HTTP/1.1 keep-alive. Each response
goes out in one write with a Content-Length (headers and body in separate segments stall
on Nagle + delayed ACK), so a pooled client reuses its connections; ``drop`` closes a
socket without answering (a fault on purpose). ``LoopbackSandbox`` is the start/stop
lifecycle: port 0 picks a free port, the server runs in a daemon thread.
"""
from __future__ import annotations

import signal
import socket
import sys
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALLOWED_HOSTS = ("127.0.0.1", "localhost")


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Knows its sandbox and its open connections (``stop`` closes idle keep-alive ones too)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

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
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            for close in (lambda: conn.shutdown(socket.SHUT_RDWR), conn.close):
                try:
                    close()
                except OSError:
                    pass


class LoopbackRequestHandler(BaseHTTPRequestHandler):
    """Reads the body, hands it to ``server.sandbox.handle_http(handler, body)``; subclasses
    with another entry point override ``_dispatch``."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this many seconds

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

    def read_body(self) -> bytes:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self) -> None:
        self.server.sandbox.handle_http(self, self.read_body())

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_GET

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


class LoopbackSandbox:
    """Start/stop/serve for a sandbox; a subclass names ``handler_class`` and ``thread_name``,
    calls ``_init_serving`` in its constructor and may hook ``_started``/``_stopping``."""

    server_class: type[LoopbackHTTPServer] = LoopbackHTTPServer
    handler_class: type[LoopbackRequestHandler] = LoopbackRequestHandler
    thread_name = "sandbox"

    def _init_serving(self, host: str, port: int, verbose: bool) -> None:
        if host not in ALLOWED_HOSTS:
            raise ValueError("the sandbox binds 127.0.0.1 only")
        self.host, self.port, self.verbose = "127.0.0.1", int(port), verbose
        self.request_log: list = []
        self._log_lock = threading.Lock()
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self):
        if self._server is not None:
            return self
        self._server = self.server_class((self.host, self.port), self.handler_class, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.thread_name}-{self.port}", daemon=True)
        self._thread.start()
        self._started()
        return self

    def _started(self) -> None:
        """Runs once the port is known (before ``start`` returns)."""

    def _stopping(self) -> None:
        """Runs first in every ``stop``."""

    def stop(self) -> None:
        self._stopping()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_all_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (used by the CLI)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def clear_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def _log(self, entry) -> None:
        with self._log_lock:
            self.request_log.append(entry)

    def log_page(self, since: int = 0) -> dict:
        """``GET /__sandbox__/log``: the entries from position ``since`` and where the next page starts."""
        with self._log_lock:
            return {"entries": [e.to_dict() for e in self.request_log[since:]], "next": len(self.request_log)}


def positional_args(op: str, table: dict, args: dict, error: type[Exception]) -> list:
    """The arguments ``table[op]`` names, popped from ``args`` in order (a control-endpoint change by name)."""
    if op not in table:
        raise error(f"unknown op {op!r}")
    positional = []
    for name in table[op]:
        if name not in args:
            raise error(f"{op} needs {name}")
        positional.append(args.pop(name))
    return positional


def serve_until_interrupted(sandbox: LoopbackSandbox) -> int:
    """The CLI's serve loop: Ctrl-C or SIGTERM stops the sandbox; returns exit status 0."""
    def _stop(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _stop)
    except ValueError:  # not the main thread
        pass
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0
