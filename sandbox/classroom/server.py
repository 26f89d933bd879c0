"""``ClassroomSandbox``: Google Classroom + Admin Reports on 127.0.0.1 (stdlib ThreadingHTTPServer).

Auth is a Bearer token; anything else gets Google's 401 UNAUTHENTICATED. A per-token
quota (requests per window, Google's is per minute) answers 429 RESOURCE_EXHAUSTED
once used up; tests shrink the window so they stay fast. Every API request is logged.
"""
from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .api import ClassroomApi, GoogleError, Query
from .data import ClassroomData, SandboxError

CONTROL_PREFIX = "/__sandbox__"
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                   "other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
MISSING_CREDENTIALS = ("Request is missing required authentication credential. Expected OAuth 2 access token, login "
                       "cookie or other valid authentication credential. See "
                       "https://developers.google.com/identity/sign-in/web/devconsole-project.")
WWW_AUTHENTICATE = ("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/", error="invalid_token"')


def quota_error(service: str) -> GoogleError:
    return GoogleError(429, f"Quota exceeded for quota metric 'Requests' and limit 'Requests per minute per user' of "
                            f"service '{service}' for consumer 'project_number:000000000000'.",
                       "RESOURCE_EXHAUSTED", reason="rateLimitExceeded")


@dataclass
class RequestLogEntry:
    method: str
    path: str
    query: dict            # parsed, access_token removed
    status: int
    started: float
    quota_exceeded: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Quota:
    """Fixed-window request count per token (Google: 1,200/min per user, 3,000/min per client)."""

    limit: int = 1200
    window_s: float = 60.0
    _windows: dict = field(default_factory=dict)

    def admit(self, key: str, now: float) -> bool:
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        if count >= self.limit:
            self._windows[key] = (start, count)
            return False
        self._windows[key] = (start, count + 1)
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = 60

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if self.server.sandbox.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    def _dispatch(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        body = self.rfile.read(n) if n > 0 else b""
        status, headers, payload = self.server.sandbox.handle(self.command, self.path, self.headers, body)
        data = json.dumps(payload, separators=(",", ":")).encode()
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Date: {formatdate(usegmt=True)}",
                 f"Server: {self.server_version}", "Content-Type: application/json; charset=UTF-8",
                 *(f"{name}: {value}" for name, value in headers), f"Content-Length: {len(data)}"]
        try:
            # One write per response: headers and body in separate segments stall on Nagle + delayed ACK.
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        except OSError:
            self.close_connection = True
            return
        self.log_request(status, len(data))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, sandbox):
        self.sandbox = sandbox
        super().__init__(address, handler)


class ClassroomSandbox:
    """See ``sandbox/classroom/__init__.py`` for the whole API."""

    MUTATIONS = {
        "add_course_work": ("course_id",),
        "edit_course_work": ("course_id", "course_work_id"),
        "grade_submission": ("course_id", "submission_id", "points"),
        "turn_in": ("course_id", "submission_id"),
        "rename_course": ("course_id", "name"),
        "advance_days": ("days",),
        "set_usage": ("date", "email"),
    }

    def __init__(self, courses: int = 2, course_work: int = 6, students: int = 5, usage_users: int | None = None,
                 seed: int = 1, token: str = "classroom-sandbox-token", quota_per_window: int = 1200,
                 quota_window_s: float = 60.0, today=None, usage_lag_days: int = 2, port: int = 0,
                 verbose: bool = False):
        self.host = "127.0.0.1"
        self.port = int(port)
        self.token = token
        # A teacher's token: Classroom answers it, the Admin Reports API (admins only) does not.
        self.teacher_token = f"{token}-teacher"
        self.verbose = verbose
        self.data = ClassroomData(courses=courses, course_work=course_work, students=students,
                                  usage_users=usage_users, seed=seed, today=today, usage_lag_days=usage_lag_days)
        self.api = ClassroomApi(self.data)
        self.quota = Quota(quota_per_window, quota_window_s)
        self.request_log: list[RequestLogEntry] = []
        self._lock = threading.Lock()
        self._fail_next = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        """Stands in for both https://classroom.googleapis.com and https://admin.googleapis.com."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ClassroomSandbox":
        if self._server is None:
            self._server = _Server((self.host, self.port), _Handler, self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"classroom-sandbox-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
                self._thread = None

    def __enter__(self) -> "ClassroomSandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # ----------------------------------------------------------------- knobs
    def set_quota(self, limit: int, window_s: float | None = None) -> None:
        with self._lock:
            self.quota = Quota(int(limit), self.quota.window_s if window_s is None else float(window_s))

    def fail_next(self, count: int) -> None:
        """The next ``count`` API requests answer 429 RESOURCE_EXHAUSTED whatever the quota says."""
        with self._lock:
            self._fail_next = max(0, int(count))

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    def requests(self, path_contains: str = "") -> list[RequestLogEntry]:
        with self._lock:
            return [e for e in self.request_log if path_contains in e.path]

    def mutate(self, op: str, **args):
        if op not in self.MUTATIONS:
            raise SandboxError(f"unknown op {op!r}")
        positional = []
        for name in self.MUTATIONS[op]:
            if name not in args:
                raise SandboxError(f"{op} needs {name}")
            positional.append(args.pop(name))
        method = getattr(self.data, op)
        result = method(*positional, **args)
        return result.isoformat() if hasattr(result, "isoformat") else result

    # ----------------------------------------------------------------- HTTP
    def handle(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, list, dict]:
        split = urlsplit(raw_path)
        if split.path.startswith(CONTROL_PREFIX):
            return self._control(method, split.path[len(CONTROL_PREFIX):].rstrip("/"), split.query, body)
        query = Query(split.query)
        entry = RequestLogEntry(method, split.path, {k: v for k, v in parse_qs(split.query).items()
                                                     if k != "access_token"}, 0, time.time())
        out_headers: list = []
        try:
            token = self._token(headers, query)
            if token is None:
                raise GoogleError(401, MISSING_CREDENTIALS, "UNAUTHENTICATED", headers=[WWW_AUTHENTICATE])
            if token not in (self.token, self.teacher_token):
                raise GoogleError(401, UNAUTHENTICATED, "UNAUTHENTICATED", headers=[WWW_AUTHENTICATE])
            service = "admin.googleapis.com" if split.path.startswith("/admin/") else "classroom.googleapis.com"
            if token == self.teacher_token and service == "admin.googleapis.com":
                raise GoogleError(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED",
                                  reason="insufficientPermissions")
            with self._lock:
                forced = self._fail_next > 0
                if forced:
                    self._fail_next -= 1
                admitted = not forced and self.quota.admit(token, time.monotonic())
            if not admitted:
                entry.quota_exceeded = True
                raise quota_error(service)
            status, payload = 200, self.api.handle(method, split.path, query)
        except GoogleError as exc:
            status, payload, out_headers = exc.code, exc.body(), list(exc.headers)
        except Exception:  # a sandbox bug: answer as Google would, keep serving
            traceback.print_exc()
            status, payload = 500, GoogleError(500, "Internal error encountered.", "INTERNAL").body()
        entry.status = status
        with self._lock:
            self.request_log.append(entry)  # logged before the answer leaves
        return status, out_headers, payload

    @staticmethod
    def _token(headers, query: Query) -> str | None:
        auth = headers.get("Authorization")
        if auth:
            m = re.match(r"(?i)bearer\s+(\S+)\s*$", auth.strip())
            return m.group(1) if m else ""
        return query.get("access_token")

    def _control(self, method: str, op: str, raw_query: str, body: bytes) -> tuple[int, list, dict]:
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("JSON object expected")
            return 200, [], self._control_op(method, op, raw_query, payload)
        except (SandboxError, ValueError, TypeError, KeyError) as exc:
            return 400, [], {"error": str(exc)}

    def _control_op(self, method: str, op: str, raw_query: str, payload: dict) -> dict:
        if method == "GET" and op in ("", "/health"):
            return {"status": "ok", "base_url": self.base_url, **self.data.summary()}
        if method == "GET" and op == "/log":
            since = int(parse_qs(raw_query).get("since", ["0"])[0])
            with self._lock:
                return {"entries": [e.to_dict() for e in self.request_log[since:]], "next": len(self.request_log)}
        if method == "POST" and op == "/log/clear":
            self.clear_log()
            return {"cleared": True}
        if method == "POST" and op == "/mutate":
            args = dict(payload)
            return {"ok": True, "result": self.mutate(str(args.pop("op", "")), **args)}
        if method == "POST" and op == "/quota":
            self.set_quota(payload.get("limit", self.quota.limit), payload.get("window_s"))
            return {"limit": self.quota.limit, "window_s": self.quota.window_s}
        if method == "POST" and op == "/fail":
            self.fail_next(payload.get("count", 1))
            return {"fail_next": self._fail_next}
        raise SandboxError(f"unknown control operation {method} {op or '/'}")
