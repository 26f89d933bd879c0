"""``DiscourseSandbox``: lifecycle, auth, throttle, faults, request log, control endpoint."""
from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs, urlsplit

from ..serving import LoopbackSandbox
from .api import DiscourseApi, Request
from .clock import Clock
from .faults import ERROR_BODIES, FaultInjector
from .forum import Forum, ForumError, User
from .serialize import webhook_post, webhook_topic
from .server import SandboxHTTPServer, SandboxRequestHandler
from .throttle import ADMIN_LIMIT, ERROR_CODE, WINDOW_S, RateLimiter, limit_body, wait_header
from .webhooks import WebhookEmitter

CONTROL_PREFIX = "/__sandbox__"
INVALID_KEY_BODY = {"errors": ["You are not permitted to view the requested resource. "
                               "The API username or key is invalid."], "error_type": "invalid_access"}


@dataclass
class RequestLogEntry:
    """One API request. ``status`` is None for a dropped connection."""

    method: str
    path: str
    query: str
    status: int | None
    username: str | None
    throttled: bool
    fault: str | None
    started: float

    def to_dict(self) -> dict:
        return asdict(self)


class DiscourseSandbox(LoopbackSandbox):
    """A Discourse stand-in on 127.0.0.1. See ``sandbox/discourse/__init__.py``."""

    def __init__(self, *, api_key: str = "sandbox-key", categories: int = 2, topics_per_category: int = 2,
                 replies_per_topic: int = 2, throttle: bool = True, throttle_limit: int = ADMIN_LIMIT,
                 throttle_window_s: float = WINDOW_S, faults: float = 0.0, fault_seed: int | None = 0,
                 fault_kinds=None, webhook_retry_unit_s: float = 60.0, min_title_length: int = 15,
                 min_post_length: int = 20, port: int = 0, host: str = "127.0.0.1", verbose: bool = False):
        self._init_serving(host, port, verbose)
        self.api_key = api_key
        self.api_username = "system"
        self.clock = Clock()
        self.forum = Forum(self.clock, min_title_length=min_title_length, min_post_length=min_post_length)
        self.api = DiscourseApi(self.forum)
        self.throttle = RateLimiter(throttle_limit, throttle_window_s, throttle)
        self.faults = FaultInjector(faults, fault_seed, fault_kinds)
        self.webhooks = WebhookEmitter(retry_unit_s=webhook_retry_unit_s)
        self.forum.listeners.append(self._on_event)
        self._seed(categories, topics_per_category, replies_per_topic)

    # ------------------------------------------------------------------ data
    def _seed(self, categories: int, topics: int, replies: int) -> None:
        self.forum.add_category("Uncategorized", "uncategorized")
        self.alice = self.forum.add_user("alice", "Alice Archer", trust_level=1)
        self.bob = self.forum.add_user("bob", "Bob Baker", trust_level=2)
        system = self.user("system")
        for c in range(1, categories + 1):
            cat = self.forum.add_category(f"Course {c} discussions", f"course-{c}")
            for t in range(1, topics + 1):
                topic = self.forum.create_post(system, {
                    "title": f"Course {c} welcome thread number {t}", "category": cat.id,
                    "raw": f"Welcome to topic {t} of course {c}. Introduce yourself below."})
                for r in range(1, replies + 1):
                    author = self.alice if r % 2 else self.bob
                    self.forum.create_post(author, {"topic_id": topic["topic_id"],
                                                    "raw": f"Reply {r} to topic {t}: hello from {author.username}."})

    def user(self, username: str) -> User:
        user = self.forum.user_by_name(username)
        if user is None:
            raise ForumError(404, f"No user {username!r}")
        return user

    # Acting "as a Discourse user": what a person does in the Discourse UI (fires webhooks too).
    def create_topic(self, as_user: str, category_id: int, title: str, raw: str,
                     external_id: str | None = None) -> dict:
        params = {"title": title, "raw": raw, "category": category_id}
        if external_id:
            params["external_id"] = external_id
        return self.forum.create_post(self.user(as_user), params)

    def reply(self, as_user: str, topic_id: int, raw: str) -> dict:
        return self.forum.create_post(self.user(as_user), {"topic_id": topic_id, "raw": raw})

    def edit_post(self, as_user: str, post_id: int, raw: str, title: str | None = None) -> dict:
        return self.forum.edit_post(self.user(as_user), post_id, raw=raw, title=title)

    def delete_post(self, as_user: str, post_id: int) -> None:
        self.forum.delete_post(self.user(as_user), post_id)

    def post_process(self, post_id: int) -> str:
        return self.forum.post_process(post_id)

    def advance_clock(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    ACTS = {"create_topic": ("category_id", "title", "raw"), "reply": ("topic_id", "raw"),
            "edit_post": ("post_id", "raw"), "delete_post": ("post_id",)}

    def act(self, op: str, as_user: str, **args):
        if op not in self.ACTS:
            raise ValueError(f"unknown op {op!r}; one of {sorted(self.ACTS)}")
        missing = [a for a in self.ACTS[op] if a not in args]
        if missing:
            raise ValueError(f"{op} needs {', '.join(missing)}")
        return getattr(self, op)(as_user, **args)

    # ------------------------------------------------------------------ webhooks
    def add_webhook(self, url: str, secret: str | None = None, *, event_types=None, category_ids=None):
        return self.webhooks.add_hook(url, secret, event_types=event_types, category_ids=category_ids)

    def wait_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    @property
    def deliveries(self):
        return list(self.webhooks.deliveries)

    def _on_event(self, event) -> None:
        with self.forum.lock:
            if event.event_type == "post":
                payload = webhook_post(self.forum, self.forum.posts[event.object_id])
            else:
                payload = webhook_topic(self.forum, self.forum.topics[event.object_id])
        self.webhooks.enqueue(event.event_type, event.event_name, payload, event.category_id)

    # ------------------------------------------------------------------ lifecycle
    server_class = SandboxHTTPServer
    handler_class = SandboxRequestHandler
    thread_name = "discourse-sandbox"

    def _started(self) -> None:
        self.webhooks.instance_url = self.base_url
        self.webhooks.start()

    def _stopping(self) -> None:
        self.webhooks.stop()

    # ------------------------------------------------------------------ knobs
    def set_faults(self, rate: float, seed: int | None = 0, kinds=None, methods=None) -> None:
        self.faults.configure(rate, seed, kinds, methods)

    def set_throttle(self, enabled: bool | None = None, limit: int | None = None, window_s: float | None = None):
        self.throttle.configure(limit, window_s, enabled)
        self.throttle.reset()

    def writes(self) -> list[RequestLogEntry]:
        """Logged POST/PUT/DELETE requests (to check nothing was echoed back here)."""
        with self._log_lock:
            return [e for e in self.request_log if e.method in ("POST", "PUT", "DELETE")]

    # ------------------------------------------------------------------ HTTP
    def handle_http(self, handler: SandboxRequestHandler, body: bytes) -> None:
        split = urlsplit(handler.path)
        if split.path.startswith(CONTROL_PREFIX):
            self._control(handler, split.path[len(CONTROL_PREFIX):].rstrip("/"), parse_qs(split.query), body)
        else:
            self._api(handler, split.path, split.query, body)

    def _authenticate(self, headers: dict) -> tuple[User | None, bool]:
        """(user, ok). No key: anonymous. A wrong key or unknown username: not ok (403)."""
        key = headers.get("api-key")
        if key is None:
            return None, True
        username = headers.get("api-username") or "system"
        if key != self.api_key:
            return None, False
        user = self.forum.user_by_name(username)
        return user, user is not None

    def _api(self, handler, path: str, raw_query: str, body: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        user, ok = self._authenticate(headers)
        entry = RequestLogEntry(handler.command, path, raw_query, None, user.username if user else None, False,
                                None, time.time())
        response = self._respond(handler.command, path, raw_query, headers, body, user, ok, entry)
        if response is None:
            self._log(entry)
            handler.drop()
            return
        status, out_headers, data = response
        entry.status = status
        self._log(entry)  # logged before the response leaves, so a client that got its answer sees it
        handler.send_raw(status, out_headers, data)

    def _respond(self, method, path, raw_query, headers, body, user, ok, entry):
        """(status, headers, body bytes), or None to drop the connection."""
        if not ok:
            return _json(403, INVALID_KEY_BODY)
        if user is not None:
            wait = self.throttle.perform(f"key:{self.api_key}")
            if wait is not None:
                seconds = wait_header(wait)
                entry.throttled = True
                return _json(429, limit_body(seconds), [("Retry-After", str(seconds)),
                                                        ("Discourse-Rate-Limit-Error-Code", ERROR_CODE)])
            entry.fault = self.faults.draw(method)
            if entry.fault == "drop":
                return None
            if entry.fault and entry.fault != "lost":
                raw, ctype = ERROR_BODIES[int(entry.fault)]
                return int(entry.fault), [("Content-Type", ctype)], raw
        try:
            params = _parse_body(headers.get("content-type", ""), body)
            base_url = f"http://{headers.get('host') or f'{self.host}:{self.port}'}"
            request = Request(method, path, parse_qs(raw_query, keep_blank_values=True), params, user, base_url)
            status, payload, extra = self.api.handle(request)
        except ForumError as exc:
            return _json(exc.status, exc.body())
        except Exception:  # a sandbox bug: answer 500 like Discourse, keep serving
            traceback.print_exc()
            raw, ctype = ERROR_BODIES[500]
            return 500, [("Content-Type", ctype)], raw
        if entry.fault == "lost":
            return None  # done, but the answer never leaves
        if payload is None:
            return status, list(extra), b""
        return _json(status, payload, extra)

    # ------------------------------------------------------------------ control
    def _control(self, handler, op: str, query: dict, body: bytes) -> None:
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("JSON object expected")
            status, result = 200, self._control_op(handler.command, op, query, payload)
        except ForumError as exc:
            status, result = exc.status, exc.body()
        except (ValueError, TypeError, KeyError) as exc:
            status, result = 400, {"error": str(exc)}
        data = json.dumps(result, separators=(",", ":"), default=str).encode()
        handler.send_raw(status, [("Content-Type", "application/json; charset=utf-8")], data)

    def _control_op(self, method: str, op: str, query: dict, payload: dict):
        if method == "GET" and op in ("", "/health"):
            return {"status": "ok", "base_url": self.base_url, "api_username": self.api_username,
                    **self.forum.summary()}
        if method == "GET" and op == "/log":
            return self.log_page(int((query.get("since") or ["0"])[0]))
        if method == "POST" and op == "/log/clear":
            self.clear_log()
            return {"cleared": True}
        if method == "POST" and op == "/act":
            args = dict(payload)
            name, as_user = args.pop("op", None), args.pop("as", None) or "alice"
            return {"ok": True, "result": self.act(str(name), str(as_user), **args)}
        if method == "POST" and op == "/faults":
            self.set_faults(float(payload.get("rate", 0.0)), payload.get("seed", 0), payload.get("kinds"),
                            payload.get("methods"))
            return {"rate": self.faults.rate, "kinds": list(self.faults.kinds)}
        if method == "POST" and op == "/throttle":
            self.set_throttle(payload.get("enabled"), payload.get("limit"), payload.get("window_s"))
            return {"enabled": self.throttle.enabled, "limit": self.throttle.limit,
                    "window_s": self.throttle.window_s}
        if method == "POST" and op == "/clock":
            return {"now": self.advance_clock(float(payload.get("advance", 0)))}
        if method == "POST" and op == "/webhooks":
            hook = self.add_webhook(str(payload["url"]), payload.get("secret"),
                                    event_types=payload.get("event_types"), category_ids=payload.get("category_ids"))
            return {"id": hook.id, "url": hook.url}
        if method == "GET" and op == "/webhooks/deliveries":
            return {"deliveries": [d.to_dict() for d in self.deliveries]}
        if method == "POST" and op == "/webhooks/redeliver":
            self.webhooks.redeliver(int(payload["event_id"]))
            return {"ok": True}
        if method == "POST" and op == "/webhooks/ping":
            self.webhooks.ping(int(payload["hook_id"]))
            return {"ok": True}
        raise ForumError(404, "The requested URL or resource could not be found.", "not_found")


def _parse_body(content_type: str, body: bytes) -> dict:
    if not body:
        return {}
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            raise ForumError(400, ["Invalid JSON body"], "invalid_parameters") from None
        if not isinstance(data, dict):
            raise ForumError(400, ["Invalid JSON body"], "invalid_parameters")
        return data
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _json(status: int, payload, headers=()) -> tuple[int, list[tuple[str, str]], bytes]:
    data = json.dumps(payload, separators=(",", ":")).encode()
    return status, [("Content-Type", "application/json; charset=utf-8"), *headers], data
