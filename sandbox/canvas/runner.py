"""``CanvasSandbox``: the in-process API (start/stop, data, request log, change simulation)."""
from __future__ import annotations

import json
import re
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from urllib.parse import parse_qsl, urlsplit

from . import clock
from .api import ApiRequest, ApiResponse, CanvasApi
from .constants import SELF_USER_ID
from .data import CanvasData, SandboxError
from .errors import (INVALID_TOKEN_BODY, NO_TOKEN_BODY, REVOKED_TOKEN_BODY, WWW_AUTHENTICATE, ApiError,
                     not_found)
from .faults import DEFAULT_SLOW_S, ERROR_BODIES, FaultInjector
from .oauth import DEFAULT_TOKEN_LIFETIME_S, DeveloperKey, OAuthError, OAuthProvider, authorize_page, with_query
from .pagination import Query
from ..serving import LoopbackSandbox, positional_args
from .server import SandboxHTTPServer, SandboxRequestHandler
from .throttle import Throttle, fmt_units, rate_limit_body

CONTROL_PREFIX = "/__sandbox__"


@dataclass
class RequestLogEntry:
    """One ``/api/v1`` request. ``status`` is None for a dropped connection; ``duration`` in seconds."""

    method: str
    path: str
    query: str            # access_token redacted
    status: int | None
    started: float        # epoch seconds
    duration: float
    throttled: bool
    fault: str | None
    cost: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


HOLD_MAX_S = 120.0


class CanvasSandbox(LoopbackSandbox):
    """A Canvas LMS stand-in on 127.0.0.1. See ``sandbox/canvas/__init__.py`` for the full API."""

    def __init__(self, courses: int = 3, assignments: int = 10, students: int = 20, seed: int = 1,
                 token: str = "sandbox-token", latency_ms: float = 0, throttle: bool = True,
                 throttle_status: int = 403, faults: float = 0.0, port: int = 0, *, host: str = "127.0.0.1",
                 fault_seed: int | None = None, fault_kinds=None, fault_slow_s: float = DEFAULT_SLOW_S,
                 unauthorized_status: int = 401, anchor: float | None = None, topics_per_course: int = 3,
                 verbose: bool = False, student_all: str = "own",
                 oauth_token_lifetime_s: float = DEFAULT_TOKEN_LIFETIME_S, oauth_key: DeveloperKey | None = None):
        if unauthorized_status not in (401, 403):
            raise ValueError("unauthorized_status must be 401 or 403")
        self._init_serving(host, port, verbose)
        self.token = token
        self.expired_token = f"{token}-expired"
        self.revoked_token = f"{token}-revoked"
        # A developer-key token whose scopes allow only GET users/self (Canvas enforces scopes per route).
        self.scoped_token = f"{token}-scoped"
        # A student's own token (the first generated student): sees only their own submissions.
        self.student_token = f"{token}-student"
        self.latency_ms = float(latency_ms)
        self.data = CanvasData(courses=courses, assignments=assignments, students=students, seed=seed,
                               anchor=anchor, topics_per_course=topics_per_course)
        self.student_id = self.data.students[0]["id"] if self.data.students else None
        self.expired_at = clock.iso(self.data.anchor - 3 * clock.DAY)
        # What students/submissions?student_ids[]=all gives a student: "own" (canvas-lms
        # today) or "unauthorized" (how some older instances answered).
        if student_all not in ("own", "unauthorized"):
            raise ValueError('student_all must be "own" or "unauthorized"')
        self.api = CanvasApi(self.data, unauthorized_status, student_all=student_all)
        # The developer key an app signs users in with (sandbox/canvas/oauth.py).
        self.oauth = OAuthProvider(oauth_key, token_lifetime_s=oauth_token_lifetime_s)
        self.oauth.user_name = self._user_name
        self.throttle = Throttle(enabled=throttle, status=throttle_status)
        self.faults = FaultInjector(faults, seed if fault_seed is None else fault_seed,
                                    fault_kinds, fault_slow_s)
        # Requests under this path wait until release(): a test can hold one course's fetch open.
        self._hold_prefix: str | None = None
        self._released = threading.Event()
        self._released.set()
        self.held: list[str] = []

    # ------------------------------------------------------------------ lifecycle
    server_class = SandboxHTTPServer
    handler_class = SandboxRequestHandler
    thread_name = "canvas-sandbox"

    @property
    def api_url(self) -> str:
        """``base_url`` is the Canvas base URL; the API lives under ``/api/v1``."""
        return self.base_url + "/api/v1"

    def _started(self) -> None:
        self.data.base_url = self.base_url

    def _user_name(self, user_id: int) -> str:
        if user_id == SELF_USER_ID:
            return self.data.self_user.get("name", "")
        return self.data.students[self.data.student_index(user_id)]["name"]

    def oauth_users(self) -> list[tuple[int, str]]:
        """Who may sign in on the authorize page: the teacher and the first student."""
        users = [(SELF_USER_ID, self._user_name(SELF_USER_ID))]
        if self.student_id is not None:
            users.append((self.student_id, self._user_name(self.student_id)))
        return users

    # ------------------------------------------------------------------ knobs
    def set_faults(self, rate: float, seed: int | None = None, kinds=None, slow_s: float | None = None,
                   path_prefix: str | None = None) -> None:
        """Inject faults on ``rate`` of API requests, deterministic for ``seed`` (restarts the sequence).

        ``path_prefix`` limits them to requests whose path starts with it (e.g. one course).
        """
        self.faults.configure(rate, self.data.seed if seed is None else seed, kinds, slow_s, path_prefix)

    def set_throttle(self, enabled: bool, status: int | None = None, retry_after: float | None = None) -> None:
        self.throttle.enabled = bool(enabled)
        self.throttle.retry_after = retry_after
        if status is not None:
            if status not in (403, 429):
                raise ValueError("throttle status must be 403 or 429")
            self.throttle.status = status
        self.throttle.reset()

    def set_latency(self, ms: float) -> None:
        self.latency_ms = max(0.0, float(ms))

    def hold(self, path_prefix: str) -> None:
        """Make API requests whose path starts with `path_prefix` wait (at most HOLD_MAX_S) until release()."""
        self._released.clear()
        self._hold_prefix = path_prefix
        self.held = []

    def release(self) -> None:
        self._hold_prefix = None
        self._released.set()

    # ------------------------------------------------------------- change simulation
    def rename_course(self, course_id: int, new_name: str) -> dict:
        return self.data.rename_course(course_id, new_name)

    def update_assignment(self, assignment_id: int, **fields) -> dict:
        return self.data.update_assignment(assignment_id, **fields)

    def add_assignment(self, course_id: int, **fields) -> dict:
        return self.data.add_assignment(course_id, **fields)

    def delete_assignment(self, assignment_id: int) -> dict:
        return self.data.delete_assignment(assignment_id)

    def grade_submission(self, assignment_id: int, user_id: int, score: float | None) -> dict:
        return self.data.grade_submission(assignment_id, user_id, score)

    def excuse_submission(self, assignment_id: int, user_id: int) -> dict:
        return self.data.excuse_submission(assignment_id, user_id)

    def submit(self, assignment_id: int, user_id: int) -> dict:
        return self.data.submit(assignment_id, user_id)

    def unenroll(self, course_id: int) -> None:
        self.data.unenroll(course_id)

    def enroll(self, course_id: int) -> None:
        self.data.enroll(course_id)

    def restrict_course(self, course_id: int, reason: str = "concluded") -> None:
        self.data.restrict_course(course_id, reason)

    def revoke_access(self, course_id: int) -> None:
        self.data.revoke_access(course_id)

    def restore_access(self, course_id: int) -> None:
        self.data.restore_access(course_id)

    # discussions, as a Canvas user would write them (not through the API: no request is logged)
    def create_topic(self, course_id: int, title: str, message: str, **fields) -> dict:
        return self.data.create_topic(course_id, title, message, **fields)

    def update_topic(self, topic_id: int, **fields) -> dict:
        return self.data.update_topic(topic_id, **fields)

    def delete_topic(self, topic_id: int) -> dict:
        return self.data.delete_topic(topic_id)

    def create_entry(self, topic_id: int, message: str, **fields) -> dict:
        return self.data.create_entry(topic_id, message, **fields)

    def update_entry(self, entry_id: int, message: str) -> dict:
        return self.data.update_entry(entry_id, message)

    def delete_entry(self, entry_id: int) -> dict:
        return self.data.delete_entry(entry_id)

    def writes(self, since: int = 0) -> list[RequestLogEntry]:
        """API requests that wrote (POST/PUT/DELETE), from log position ``since``: who changed what."""
        with self._log_lock:
            return [e for e in self.request_log[since:] if e.method in ("POST", "PUT", "PATCH", "DELETE")]

    MUTATIONS = {
        "rename_course": ("course_id", "name"),
        "update_assignment": ("assignment_id",),
        "add_assignment": ("course_id",),
        "delete_assignment": ("assignment_id",),
        "grade_submission": ("assignment_id", "user_id", "score"),
        "excuse_submission": ("assignment_id", "user_id"),
        "submit": ("assignment_id", "user_id"),
        "unenroll": ("course_id",),
        "enroll": ("course_id",),
        "restrict_course": ("course_id",),  # optional "reason": "concluded" (default) or "date"
        "revoke_access": ("course_id",),
        "restore_access": ("course_id",),
        "create_topic": ("course_id", "title", "message"),
        "update_topic": ("topic_id",),
        "delete_topic": ("topic_id",),
        "create_entry": ("topic_id", "message"),
        "update_entry": ("entry_id", "message"),
        "delete_entry": ("entry_id",),
    }

    def mutate(self, op: str, **args):
        """Run one change by name (what ``POST /__sandbox__/mutate`` calls)."""
        positional = positional_args(op, self.MUTATIONS, args, SandboxError)
        if op == "restrict_course":
            return self.restrict_course(*positional, **{k: v for k, v in args.items() if k == "reason"})
        if op in ("update_assignment", "add_assignment", "update_topic", "create_topic", "create_entry"):
            fields = args.pop("fields", None) or {}
            fields.update(args)
            return getattr(self, op)(*positional, **fields)
        return getattr(self, op)(*positional)

    # ------------------------------------------------------------------ HTTP entry
    def handle_http(self, handler: SandboxRequestHandler, body: bytes) -> None:
        split = urlsplit(handler.path)
        path = split.path
        if path.startswith(CONTROL_PREFIX):
            self._control(handler, path, Query(split.query), body)
        elif path.rstrip("/").startswith("/login/oauth2/"):
            self._oauth(handler, path.rstrip("/"), Query(split.query), body)
        else:
            self._api(handler, path, Query(split.query), body)

    def _caller(self, headers: dict, query: Query) -> int:
        """The user a valid token belongs to: the teacher, or the student of ``student_token``."""
        auth = headers.get("authorization") or ""
        m = re.match(r"(?i)bearer\s+(\S+)\s*$", auth.strip())
        token = m.group(1) if m else query.get("access_token")
        pair, _expired = self.oauth.lookup(token) if token else (None, False)
        if pair is not None:
            return pair.user_id
        return self.student_id if token == self.student_token and self.student_id is not None else SELF_USER_ID

    def _authenticate(self, headers: dict, query: Query, path: str = "", method: str = "GET") -> ApiError | None:
        token = None
        auth = headers.get("authorization")
        if auth:
            m = re.match(r"(?i)bearer\s+(\S+)\s*$", auth.strip())
            token = m.group(1) if m else None
        if token is None:
            token = query.get("access_token")
        if token is None:
            return ApiError(401, NO_TOKEN_BODY)
        if token == self.token or (token == self.student_token and self.student_id is not None):
            return None
        pair, expired = self.oauth.lookup(token)
        if pair is not None and not expired:
            return None
        if token == self.expired_token or pair is not None:
            expired_at = self.expired_at if pair is None else clock.iso(pair.expires_at)
            return ApiError(401, {"errors": [{"message": "Expired access token.", "expired_at": expired_at}]},
                            [WWW_AUTHENTICATE])
        if token == self.revoked_token:
            return ApiError(401, REVOKED_TOKEN_BODY, [WWW_AUTHENTICATE])
        if token == self.scoped_token:
            if method == "GET" and path.rstrip("/") == "/api/v1/users/self":
                return None
            # No WWW-Authenticate: the token is fine, its scopes are not.
            return ApiError(401, {"errors": [{"message": "Insufficient scopes on access token."}]})
        return ApiError(401, INVALID_TOKEN_BODY, [WWW_AUTHENTICATE])

    @staticmethod
    def _identity(headers: dict, query: Query, handler) -> str:
        auth = headers.get("authorization") or ""
        m = re.match(r"(?i)bearer\s+(\S+)", auth.strip())
        token = m.group(1) if m else query.get("access_token")
        return f"token:{token}" if token else f"ip:{handler.client_address[0]}"

    def _api(self, handler: SandboxRequestHandler, path: str, query: Query, body: bytes) -> None:
        started = time.time()
        t0 = time.perf_counter()
        method = handler.command
        headers = {k.lower(): v for k, v in handler.headers.items()}
        host = headers.get("host") or f"{self.host}:{self.port}"
        base_url = f"http://{host}"
        entry = RequestLogEntry(method, path, query.redacted(), None, started, 0.0, False, None)
        bucket = self.throttle.bucket(self._identity(headers, query, handler))
        admitted = bucket.reserve(enforce=self.throttle.enabled)
        cost = 0.0
        status, out_headers, out_body, truncate, drop = 200, [], b"", False, False
        try:
            if self.latency_ms > 0:
                time.sleep(self.latency_ms / 1000.0)
            if not admitted:
                entry.throttled = True
                status = self.throttle.status
                out_body = rate_limit_body(status)
                out_headers = [("Content-Type", "text/plain; charset=utf-8"), ("X-Request-Cost", "0"),
                               ("X-Rate-Limit-Remaining", "0.0")]
                if self.throttle.retry_after is not None:
                    out_headers.append(("Retry-After", f"{self.throttle.retry_after:g}"))
                return
            hold = self._hold_prefix
            if hold is not None and path.startswith(hold):
                self.held.append(path)
                self._released.wait(HOLD_MAX_S)
            work_start = time.perf_counter()
            fault = None
            error = self._authenticate(headers, query, path, method) if path.startswith("/api/") else None
            if error is None and path.startswith("/api/v1"):
                fault = self.faults.draw(path)
            entry.fault = fault
            if fault == "drop":
                drop = True
                return
            if fault == "slow":
                time.sleep(self.faults.slow_s)
                work_start += self.faults.slow_s
            if fault in ("500", "502", "503", "504"):
                status = int(fault)
                out_body, ctype = ERROR_BODIES[status]
                out_headers = [("Content-Type", ctype)]
                if status == 503:
                    out_headers.append(("Retry-After", "1"))
            elif fault == "throttle":
                entry.throttled = True
                status = self.throttle.status
                out_body = rate_limit_body(status)
                out_headers = [("Content-Type", "text/plain; charset=utf-8")]
            else:
                try:
                    if error is not None:
                        raise error
                    resp = self.api.handle(ApiRequest(method, path, query, headers, body, base_url,
                                                      self._caller(headers, query)))
                except ApiError as exc:
                    resp = ApiResponse(status=exc.status, body=exc.body(), headers=list(exc.headers))
                except Exception:  # a sandbox bug: answer like Canvas would, keep serving
                    traceback.print_exc()
                    body500, _ = ERROR_BODIES[500]
                    resp = ApiResponse(status=500, body=body500)
                status = resp.status
                out_body = resp.render()
                out_headers = []
                if status != 304:
                    out_headers.append(("Content-Type", resp.content_type))
                out_headers.extend(resp.headers)
                if fault == "truncated":
                    truncate = status == 200 and bool(out_body)
                    entry.fault = fault if truncate else None
                elif fault == "malformed":
                    if status == 200 and out_body:
                        out_body = out_body[: max(1, len(out_body) // 2)] + b'",{"broken'
                    else:
                        entry.fault = None
            cost = max(time.perf_counter() - work_start, 0.0001)
        finally:
            if admitted:
                remaining = bucket.settle(cost)
                out_headers.append(("X-Request-Cost", fmt_units(cost)))
                out_headers.append(("X-Rate-Limit-Remaining",
                                    "0.0" if entry.fault == "throttle" else fmt_units(remaining)))
            # logged before the response leaves, so a client that got its answer sees the entry
            entry.status = None if drop else status
            entry.cost = cost
            entry.duration = time.perf_counter() - t0
            self._log(entry)
            if drop:
                handler.drop()
            else:
                handler.send_raw(status, out_headers, out_body, truncate=truncate)

    # ------------------------------------------------------------------ OAuth2
    def _oauth(self, handler, path: str, query: Query, body: bytes) -> None:
        """/login/oauth2/*: see sandbox/canvas/oauth.py. Logged like API requests (tokens redacted)."""
        started, t0 = time.time(), time.perf_counter()
        method = handler.command
        headers = {k.lower(): v for k, v in handler.headers.items()}
        entry = RequestLogEntry(method, path, "", None, started, 0.0, False, None)
        params = dict(query.pairs)
        if body:
            ctype = headers.get("content-type", "")
            if "json" in ctype:
                try:
                    loaded = json.loads(body)
                except ValueError:
                    loaded = {}
                params.update({k: str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {})
            else:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        status, out_headers, out_body = 404, [("Content-Type", "application/json; charset=utf-8")], b""
        try:
            status, out_headers, out_body = self._oauth_route(method, path, params, headers)
        except OAuthError as exc:
            status = exc.status
            out_body = json.dumps(exc.payload(), separators=(",", ":")).encode()
            out_headers = [("Content-Type", "application/json; charset=utf-8")]
            if status == 401:
                out_headers.append(("WWW-Authenticate", "Canvas OAuth 2.0"))
        finally:
            entry.status = status
            entry.duration = time.perf_counter() - t0
            self._log(entry)
            handler.send_raw(status, out_headers, out_body)

    def _oauth_route(self, method: str, path: str, params: dict, headers: dict):
        json_type = [("Content-Type", "application/json; charset=utf-8")]
        if path == "/login/oauth2/auth" and method == "GET":
            redirect_uri, scopes = self.oauth.check_authorize(params)
            scope_error = self.oauth.scope_error(scopes)
            if scope_error is not None:
                return 302, [("Location", with_query(redirect_uri, {**scope_error.payload(),
                                                                   "state": params.get("state")}))], b""
            if params.get("response_type") != "code":
                return 302, [("Location", with_query(redirect_uri, {
                    "error": "unsupported_response_type", "error_description": "Only response_type=code is permitted",
                    "state": params.get("state")}))], b""
            return 200, [("Content-Type", "text/html; charset=utf-8")], authorize_page(params, self.oauth_users())
        if path in ("/login/oauth2/accept", "/login/oauth2/deny") and method == "POST":
            redirect_uri, scopes = self.oauth.check_authorize(params)
            if path.endswith("/deny"):
                return 302, [("Location", with_query(redirect_uri, {"error": "access_denied",
                                                                   "state": params.get("state")}))], b""
            allowed = {uid for uid, _ in self.oauth_users()}
            try:
                user_id = int(params.get("user_id") or SELF_USER_ID)
            except ValueError:
                user_id = -1
            if user_id not in allowed:
                raise OAuthError("invalid_request", "unknown user")
            code = self.oauth.issue_code(user_id, redirect_uri, scopes)
            return 302, [("Location", with_query(redirect_uri, {"code": code, "state": params.get("state")}))], b""
        if path == "/login/oauth2/token" and method == "POST":
            answer = self.oauth.token(params, headers.get("authorization"))
            return 200, json_type + [("Cache-Control", "no-store")], json.dumps(answer).encode()
        if path == "/login/oauth2/token" and method == "DELETE":
            m = re.match(r"(?i)bearer\s+(\S+)\s*$", (headers.get("authorization") or "").strip())
            token = m.group(1) if m else params.get("access_token")
            if not token or not self.oauth.revoke(token):
                return 400, json_type, json.dumps({
                    "message": "can't delete OAuth access token when not using an OAuth access token"}).encode()
            return 200, json_type, b"{}"
        return 404, json_type, json.dumps({"errors": [{"message": "The specified resource does not exist."}]}).encode()

    # ------------------------------------------------------------------ control
    def _control(self, handler, path: str, query: Query, body: bytes) -> None:
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("JSON object expected")
            status, result = 200, self._control_op(handler.command, path[len(CONTROL_PREFIX):].rstrip("/"),
                                                   query, payload)
        except ApiError as exc:
            status, result = exc.status, exc.payload
        except (SandboxError, ValueError, TypeError, KeyError) as exc:
            status, result = 400, {"error": str(exc)}
        data = json.dumps(result, separators=(",", ":"), default=str).encode()
        handler.send_raw(status, [("Content-Type", "application/json; charset=utf-8")], data)

    def _control_op(self, method: str, op: str, query: Query, payload: dict):
        if method == "GET" and op in ("", "/health"):
            return {"status": "ok", "base_url": self.base_url, "api_url": self.api_url, "token": self.token,
                    "student_token": self.student_token, "student_id": self.student_id}
        if method == "GET" and op == "/data":
            return self.data.summary()
        if method == "GET" and op == "/log":
            return self.log_page(int(query.get("since") or 0))
        if method == "POST" and op == "/log/clear":
            self.clear_log()
            return {"cleared": True}
        if method == "POST" and op == "/mutate":
            args = dict(payload)
            op_name = args.pop("op", None)
            result = self.mutate(str(op_name), **args)
            if isinstance(result, dict):
                result = {k: v for k, v in result.items() if not k.startswith("_")}
            return {"ok": True, "result": result}
        if method == "POST" and op == "/faults":
            self.set_faults(float(payload.get("rate", 0.0)), payload.get("seed"), payload.get("kinds"),
                            payload.get("slow_s"), payload.get("path_prefix"))
            return {"rate": self.faults.rate, "seed": self.faults.seed, "kinds": list(self.faults.kinds),
                    "slow_s": self.faults.slow_s}
        if method == "POST" and op == "/throttle":
            self.set_throttle(bool(payload.get("enabled", True)), payload.get("status"), payload.get("retry_after"))
            return {"enabled": self.throttle.enabled, "status": self.throttle.status}
        if method == "POST" and op == "/latency":
            self.set_latency(float(payload.get("ms", 0)))
            return {"latency_ms": self.latency_ms}
        raise not_found()
