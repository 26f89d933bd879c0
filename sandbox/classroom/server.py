"""``ClassroomSandbox``: Google Classroom + Admin Reports on 127.0.0.1 (``sandbox/serving.py``).

Auth is a Bearer token; anything else gets Google's 401 UNAUTHENTICATED. A per-token
quota (requests per window, Google's is per minute) answers 429 RESOURCE_EXHAUSTED
once used up; tests shrink the window so they stay fast. Every API request is logged.
"""
from __future__ import annotations

import json
import re
import time
import traceback
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, parse_qsl, urlsplit

from ..serving import LoopbackRequestHandler, LoopbackSandbox, positional_args

from .api import ClassroomApi, GoogleError, Query
from .data import ClassroomData, SandboxError
from .oauth import GoogleOAuth, GoogleOAuthError, consent_page, with_query

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


class _Handler(LoopbackRequestHandler):
    server_version = "ESF"

    def _dispatch(self):
        path = urlsplit(self.path).path.rstrip("/")
        if path.startswith("/o/oauth2/") or path in ("/token", "/revoke"):
            status, headers, raw = self.server.sandbox.handle_oauth(self.command, self.path, self.read_body())
            self.send_raw(status, headers, raw)
            return
        status, headers, payload = self.server.sandbox.handle(self.command, self.path, self.headers,
                                                              self.read_body())
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_raw(status, [("Content-Type", "application/json; charset=UTF-8"), *headers], data)

    do_PATCH = LoopbackRequestHandler.do_GET


class ClassroomSandbox(LoopbackSandbox):
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
                 verbose: bool = False, oauth_token_lifetime_s: float = 3599):
        self._init_serving("127.0.0.1", port, verbose)
        self.token = token
        # A teacher's token: Classroom answers it, the Admin Reports API (admins only) does not.
        self.teacher_token = f"{token}-teacher"
        self.data = ClassroomData(courses=courses, course_work=course_work, students=students,
                                  usage_users=usage_users, seed=seed, today=today, usage_lag_days=usage_lag_days)
        self.api = ClassroomApi(self.data)
        self.quota = Quota(quota_per_window, quota_window_s)
        self._fail_next = 0  # guarded by _log_lock, like the quota
        self._fail_retry_after: float | None = None
        # Google's OAuth endpoints (accounts.google.com and oauth2.googleapis.com) on the same port.
        self.oauth = GoogleOAuth(token_lifetime_s=oauth_token_lifetime_s)

    # lifecycle: LoopbackSandbox; base_url stands in for both https://classroom.googleapis.com
    # and https://admin.googleapis.com
    handler_class = _Handler
    thread_name = "classroom-sandbox"

    # ----------------------------------------------------------------- knobs
    def set_quota(self, limit: int, window_s: float | None = None) -> None:
        with self._log_lock:
            self.quota = Quota(int(limit), self.quota.window_s if window_s is None else float(window_s))

    def fail_next(self, count: int, retry_after: float | None = None) -> None:
        """The next ``count`` API requests answer 429 RESOURCE_EXHAUSTED whatever the quota says
        (with ``Retry-After`` when given: Google itself sends none, a proxy in front may)."""
        with self._log_lock:
            self._fail_next = max(0, int(count))
            self._fail_retry_after = retry_after

    def requests(self, path_contains: str = "") -> list[RequestLogEntry]:
        with self._log_lock:
            return [e for e in self.request_log if path_contains in e.path]

    def mutate(self, op: str, **args):
        positional = positional_args(op, self.MUTATIONS, args, SandboxError)
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
            if token not in (self.token, self.teacher_token) and not self.oauth.valid_access(token):
                raise GoogleError(401, UNAUTHENTICATED, "UNAUTHENTICATED", headers=[WWW_AUTHENTICATE])
            service = "admin.googleapis.com" if split.path.startswith("/admin/") else "classroom.googleapis.com"
            if token == self.teacher_token and service == "admin.googleapis.com":
                raise GoogleError(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED",
                                  reason="insufficientPermissions")
            with self._log_lock:
                forced = self._fail_next > 0
                if forced:
                    self._fail_next -= 1
                admitted = not forced and self.quota.admit(token, time.monotonic())
            if not admitted:
                entry.quota_exceeded = True
                error = quota_error(service)
                if forced and self._fail_retry_after is not None:
                    error.headers.append(("Retry-After", f"{self._fail_retry_after:g}"))
                raise error
            status, payload = 200, self.api.handle(method, split.path, query)
        except GoogleError as exc:
            status, payload, out_headers = exc.code, exc.body(), list(exc.headers)
        except Exception:  # a sandbox bug: answer as Google would, keep serving
            traceback.print_exc()
            status, payload = 500, GoogleError(500, "Internal error encountered.", "INTERNAL").body()
        entry.status = status
        self._log(entry)  # logged before the answer leaves
        return status, out_headers, payload

    def handle_oauth(self, method: str, raw_path: str, body: bytes) -> tuple[int, list, bytes]:
        """sandbox/classroom/oauth.py's endpoints; tokens never reach the request log."""
        split = urlsplit(raw_path)
        path = split.path.rstrip("/")
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        self._log(RequestLogEntry(method, path, {}, 0, time.time()))
        json_type = [("Content-Type", "application/json; charset=utf-8")]
        try:
            if path == "/o/oauth2/v2/auth" and method == "GET":
                redirect, scopes = self.oauth.consent(params)
                error = self.oauth.scope_error(scopes)
                if error is not None:
                    return 302, [("Location", with_query(redirect, {"error": error.error,
                                                                   "state": params.get("state")}))], b""
                return 200, [("Content-Type", "text/html; charset=utf-8")], consent_page(params)
            if path in ("/o/oauth2/v2/approve", "/o/oauth2/v2/deny") and method == "POST":
                redirect, scopes = self.oauth.consent(params)
                if path.endswith("deny"):
                    return 302, [("Location", with_query(redirect, {"error": "access_denied",
                                                                   "state": params.get("state")}))], b""
                code = self.oauth.issue_code(redirect, scopes, params.get("access_type") == "offline")
                return 302, [("Location", with_query(redirect, {"state": params.get("state"), "code": code,
                                                               "scope": scopes}))], b""
            if path == "/token" and method == "POST":
                return 200, json_type + [("Cache-Control", "no-store")], json.dumps(self.oauth.token(params)).encode()
            if path == "/revoke" and method == "POST":
                if self.oauth.revoke(params.get("token") or ""):
                    return 200, json_type, b"{}"
                raise GoogleOAuthError("invalid_token", "Token expired or revoked")
        except GoogleOAuthError as exc:
            return exc.status, json_type, json.dumps(exc.payload()).encode()
        return 404, json_type, b'{"error":"not_found"}'

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
            return self.log_page(int(parse_qs(raw_query).get("since", ["0"])[0]))
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
