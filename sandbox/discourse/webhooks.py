"""Outgoing webhooks, as Discourse's Jobs::EmitWebHookEvent sends them.

* The payload is serialized when the event happens: ``{"post": {...}}``, ``{"topic": {...}}``,
  ``{"ping": "OK"}``; ``X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256(secret, body)>``.
* Every attempt is a new WebHookEvent row, so a retry carries a new ``X-Discourse-Event-Id``;
  an admin "redeliver" re-sends the stored event: same id, same headers, same body.
* Retries: a non-2xx answer other than 404/410 is retried up to 4 times after 1, 5, 25 and 125
  minutes (``RETRY_BACKOFF ** (n-1)`` minutes; ``retry_unit_s`` scales the minute for tests).
  404/410 is not retried (the hook is deactivated after the 4th). A connection error
  (receiver down) is recorded with status -1 and NOT retried: Discourse returns early when
  there is no response, so such pushes are lost and polling must catch up.
"""
from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_RETRY_COUNT = 4
RETRY_BACKOFF = 5
USER_AGENT = "Discourse/3.4.0"


@dataclass
class WebHook:
    id: int
    url: str
    secret: str | None
    event_types: set[str] | None = None  # None: every event ("wildcard")
    category_ids: set[int] | None = None
    active: bool = True


@dataclass
class Delivery:
    """One attempt (a WebHookEvent row): what was sent and what came back."""

    event_id: int
    web_hook_id: int
    event_type: str
    event_name: str | None
    headers: dict[str, str]
    body: bytes
    attempt: int
    status: int | None = None  # -1: no response
    sent_at: float | None = None

    def to_dict(self) -> dict:
        return {"event_id": self.event_id, "web_hook_id": self.web_hook_id, "event_type": self.event_type,
                "event_name": self.event_name, "attempt": self.attempt, "status": self.status,
                "sent_at": self.sent_at, "body": self.body.decode()}


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    hook_id: int = field(compare=False)
    event_type: str = field(compare=False)
    event_name: str | None = field(compare=False)
    body: bytes = field(compare=False)
    retry_count: int = field(compare=False, default=0)
    redeliver: Delivery | None = field(compare=False, default=None)


class WebhookEmitter:
    def __init__(self, instance_url: str = "", *, retry_unit_s: float = 60.0, timeout_s: float = 5.0):
        self.instance_url = instance_url
        self.retry_unit_s = retry_unit_s
        self.timeout_s = timeout_s
        self.hooks: dict[int, WebHook] = {}
        self.deliveries: list[Delivery] = []
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._seq = itertools.count()
        self._queue: list[_Job] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = 0
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ setup
    def add_hook(self, url: str, secret: str | None = None, *, event_types=None, category_ids=None) -> WebHook:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the sandbox delivers webhooks to http://127.0.0.1 only")
        with self._cond:
            hook = WebHook(next(self._ids), url, secret or None, set(event_types) if event_types else None,
                           {int(c) for c in category_ids} if category_ids else None)
            self.hooks[hook.id] = hook
            return hook

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="discourse-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.timeout_s + 2)

    # ------------------------------------------------------------------ events
    def enqueue(self, event_type: str, event_name: str | None, payload: dict | None,
                category_id: int | None = None) -> int:
        """Queue one event for every matching active hook; returns how many were queued."""
        body = json.dumps({"ping": "OK"} if event_type == "ping" else {event_type: payload},
                          separators=(",", ":")).encode()
        queued = 0
        with self._cond:
            for hook in self.hooks.values():
                if event_type != "ping":
                    if not hook.active or (hook.event_types is not None and event_type not in hook.event_types):
                        continue
                    if hook.category_ids is not None and category_id not in hook.category_ids:
                        continue
                heapq.heappush(self._queue, _Job(time.monotonic(), next(self._seq), hook.id, event_type,
                                                 event_name, body))
                queued += 1
            self._cond.notify_all()
        return queued

    def ping(self, hook_id: int) -> None:
        with self._cond:
            heapq.heappush(self._queue, _Job(time.monotonic(), next(self._seq), hook_id, "ping", None,
                                             b'{"ping":"OK"}'))
            self._cond.notify_all()

    def redeliver(self, event_id: int) -> None:
        """Send a stored event again, byte for byte (admin "Redeliver")."""
        with self._cond:
            original = next((d for d in self.deliveries if d.event_id == event_id), None)
            if original is None:
                raise KeyError(f"no webhook event {event_id}")
            heapq.heappush(self._queue, _Job(time.monotonic(), next(self._seq), original.web_hook_id,
                                             original.event_type, original.event_name, original.body,
                                             original.attempt - 1, redeliver=original))
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing due now and nothing in flight (retries scheduled for later do not count)."""
        with self._cond:
            now = time.monotonic()
            return self._busy == 0 and not any(job.due <= now for job in self._queue)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.01)
        return self.idle()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._busy

    # ------------------------------------------------------------------ sending
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._queue or self._queue[0].due > time.monotonic()):
                    wait = (self._queue[0].due - time.monotonic()) if self._queue else 0.5
                    self._cond.wait(timeout=max(0.001, min(wait, 0.5)))
                if self._stopping:
                    return
                job = heapq.heappop(self._queue)
                hook = self.hooks.get(job.hook_id)
                self._busy += 1
            try:
                if hook is not None:
                    self._send(hook, job)
            finally:
                with self._cond:
                    self._busy -= 1

    def _headers(self, hook: WebHook, job: _Job, event_id: int) -> dict[str, str]:
        parts = urlsplit(hook.url)
        headers = {
            "Accept": "*/*", "Connection": "close", "Content-Length": str(len(job.body)),
            "Content-Type": "application/json", "Host": parts.netloc, "User-Agent": USER_AGENT,
            "X-Discourse-Instance": self.instance_url, "X-Discourse-Event-Id": str(event_id),
            "X-Discourse-Event-Type": job.event_type,
        }
        if job.event_name:
            headers["X-Discourse-Event"] = job.event_name
        if hook.secret:
            digest = hmac.new(hook.secret.encode(), job.body, hashlib.sha256).hexdigest()
            headers["X-Discourse-Event-Signature"] = f"sha256={digest}"
        return headers

    def _send(self, hook: WebHook, job: _Job) -> None:
        if job.redeliver is not None:
            delivery = job.redeliver
            headers = dict(delivery.headers)
        else:
            event_id = next(self._event_ids)
            headers = self._headers(hook, job, event_id)
            delivery = Delivery(event_id, hook.id, job.event_type, job.event_name, headers, job.body,
                                job.retry_count + 1)
            with self._cond:
                self.deliveries.append(delivery)
        status = self._post(hook.url, headers, job.body)
        delivery.status, delivery.sent_at = status, time.time()
        if job.redeliver is not None or job.event_type == "ping" or status == -1 or 200 <= status < 300:
            return
        if status in (404, 410):
            if job.retry_count >= MAX_RETRY_COUNT:
                hook.active = False
            return
        retry = job.retry_count + 1
        if retry > MAX_RETRY_COUNT:
            return
        delay = RETRY_BACKOFF ** (retry - 1) * self.retry_unit_s
        with self._cond:
            heapq.heappush(self._queue, _Job(time.monotonic() + delay, next(self._seq), hook.id, job.event_type,
                                             job.event_name, job.body, retry))
            self._cond.notify_all()

    def _post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        parts = urlsplit(url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=self.timeout_s)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return -1
        finally:
            conn.close()
