"""``SchoologySandbox``: the HTTP server, OAuth check, throttle, faults, request log, control.

The loopback server of ``sandbox/serving.py`` on 127.0.0.1 (port 0 picks a free one) speaking
HTTP/1.1 keep-alive, each response written at once with a Content-Length.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from ..serving import LoopbackRequestHandler, LoopbackSandbox

from .api import ApiResponse, SchoologyApi, text_response
from .data import SandboxError, SchoologyData
from .oauth import REALM, OAuthRefused, OAuthVerifier, SignedRequest, parse_authorization
from .throttle import DEFAULT_LIMIT, DEFAULT_WINDOW_S, SlidingWindowThrottle

CONTROL_PREFIX = "/__sandbox__"


@dataclass
class RequestLogEntry:
    """One ``/v1`` request; ``refusal`` holds the OAuth refusal text of a 401."""

    method: str
    path: str
    query: str
    status: int
    started: float
    throttled: bool = False
    refusal: str | None = None
    fault: bool = False
    consumer_key: str | None = None
    signature_method: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Handler(LoopbackRequestHandler):
    server_version = "SandboxSchoology/1.0"

    def _dispatch(self):
        resp = self.server.sandbox.handle(self, self.read_body())
        self.send_raw(resp.status, [("Content-Type", resp.content_type), *resp.headers], resp.body)


class SchoologySandbox(LoopbackSandbox):
    """A Schoology REST v1 stand-in on 127.0.0.1. See ``sandbox/schoology/__init__.py``."""

    def __init__(self, courses: int = 2, assignments: int = 4, students: int = 3, seed: int = 1,
                 past_sections: bool = True, consumer_key: str = "sandbox-consumer-key",
                 consumer_secret: str = "sandbox-consumer-secret", throttle_limit: int = DEFAULT_LIMIT,
                 throttle_window_s: float = DEFAULT_WINDOW_S, throttle: bool = True, retry_after: bool = False,
                 max_skew_s: int = 300, anchor: float | None = None, tz_name: str = "America/New_York",
                 port: int = 0, host: str = "127.0.0.1", verbose: bool = False):
        self._init_serving(host, port, verbose)
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.data = SchoologyData(courses=courses, assignments=assignments, students=students, seed=seed,
                                  past_sections=past_sections, anchor=anchor, tz_name=tz_name)
        self.api = SchoologyApi(self.data)
        self.oauth = OAuthVerifier({consumer_key: consumer_secret}, max_skew_s=max_skew_s)
        self.throttle = SlidingWindowThrottle(throttle_limit, throttle_window_s, throttle, retry_after)
        self._faults: list[int] = []  # statuses the next verified requests answer with

    # ------------------------------------------------------------------ lifecycle
    handler_class = _Handler
    thread_name = "schoology-sandbox"

    @property
    def api_url(self) -> str:
        """What a client is configured with (Schoology: https://api.schoology.com/v1)."""
        return self.base_url + "/v1"

    # ------------------------------------------------------------------ knobs
    def set_throttle(self, **kwargs) -> None:
        """``limit``, ``window_s``, ``enabled``, ``retry_after`` (resets the window)."""
        self.throttle.configure(**kwargs)

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` verified API requests answer ``status`` (after spending their nonce)."""
        if status not in (500, 502, 503, 504):
            raise SandboxError("status must be 500, 502, 503 or 504")
        with self._log_lock:
            self._faults = [int(status)] * max(0, int(count))

    def set_links_host(self, host: str | None) -> None:
        """Write `links` URLs (next pages, users/me's redirect) for another host, or the request's own (None)."""
        self.api.links_host = host

    def log_entries(self, *, path_prefix: str = "") -> list[RequestLogEntry]:
        with self._log_lock:
            return [e for e in self.request_log if e.path.startswith(path_prefix)]

    # change simulation (also reachable through POST /__sandbox__/mutate)
    MUTATIONS = ("add_assignment", "update_assignment", "delete_assignment", "grade", "submit", "archive_section")

    def mutate(self, op: str, **args):
        if op not in self.MUTATIONS:
            raise SandboxError(f"unknown op {op!r}; one of {', '.join(self.MUTATIONS)}")
        try:
            return getattr(self.data, op)(**args)
        except TypeError as exc:
            raise SandboxError(f"{op}: {exc}") from None

    # ------------------------------------------------------------------ HTTP entry
    def handle(self, handler: _Handler, body: bytes) -> ApiResponse:
        split = urlsplit(handler.path)
        if split.path.startswith(CONTROL_PREFIX):
            return self._control(handler.command, split.path[len(CONTROL_PREFIX):].rstrip("/"), split.query, body)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        oauth = parse_authorization(headers.get("authorization"))
        entry = RequestLogEntry(handler.command, split.path, split.query, 0, time.time(),
                                consumer_key=oauth.get("oauth_consumer_key"),
                                signature_method=oauth.get("oauth_signature_method"))
        resp = self._api(handler, headers, split, body, entry)
        entry.status = resp.status
        self._log(entry)
        return resp

    def _api(self, handler, headers: dict, split, body: bytes, entry: RequestLogEntry) -> ApiResponse:
        identity = entry.consumer_key or f"ip:{handler.client_address[0]}"
        wait = self.throttle.admit(identity)
        if wait is not None:
            entry.throttled = True
            resp = text_response(429, "Too Many Requests")
            if self.throttle.retry_after:
                resp.headers.append(("Retry-After", str(max(1, math.ceil(wait)))))
            return resp
        host = headers.get("host") or f"{self.host}:{self.port}"
        try:
            self.oauth.verify(SignedRequest(handler.command, "http", host, split.path, split.query,
                                            headers.get("authorization"), headers.get("content-type", ""), body))
        except OAuthRefused as exc:
            entry.refusal = exc.message
            resp = text_response(401, exc.message)
            resp.headers.append(("WWW-Authenticate", f'OAuth realm="{REALM}"'))
            return resp
        with self._log_lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            entry.fault = True
            return text_response(fault, HTTPStatus(fault).phrase)
        return self.api.handle(handler.command, split.path, split.query, host)

    # ------------------------------------------------------------------ control
    def _control(self, method: str, op: str, query: str, body: bytes) -> ApiResponse:
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise SandboxError("JSON object expected")
            status, result = 200, self._control_op(method, op, payload)
        except (SandboxError, ValueError) as exc:
            status, result = 400, {"error": str(exc)}
        if result is None:
            status, result = 404, {"error": "unknown control endpoint"}
        return ApiResponse(status, json.dumps(result, default=str).encode())

    def _control_op(self, method: str, op: str, payload: dict):
        if method == "GET" and op in ("", "/health"):
            return {"status": "ok", "api_url": self.api_url, "consumer_key": self.consumer_key}
        if method == "GET" and op == "/data":
            return self.data.summary()
        if method == "GET" and op == "/log":
            with self._log_lock:
                return {"entries": [e.to_dict() for e in self.request_log]}
        if method == "POST" and op == "/log/clear":
            self.clear_log()
            return {"cleared": True}
        if method == "POST" and op == "/mutate":
            args = dict(payload)
            return {"ok": True, "result": self.mutate(str(args.pop("op", "")), **args)}
        if method == "POST" and op == "/throttle":
            self.set_throttle(**{k: payload[k] for k in ("limit", "window_s", "enabled", "retry_after")
                                 if k in payload})
            return {"limit": self.throttle.limit, "window_s": self.throttle.window_s,
                    "enabled": self.throttle.enabled, "retry_after": self.throttle.retry_after}
        if method == "POST" and op == "/faults":
            self.fail_next(int(payload.get("count", 1)), int(payload.get("status", 503)))
            return {"queued": len(self._faults)}
        return None
