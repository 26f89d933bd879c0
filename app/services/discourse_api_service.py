"""DiscourseAPIService: typed calls to the Discourse API over one pooled session (app/services/http.py).

Transport retries (connection errors, 5xx) for reads are urllib3's. Throttling is handled
here: Discourse answers 429 with `Retry-After` and `extras.wait_seconds`; every thread
using this client pauses that long and the request is sent again, so throttling slows
us down and never fails a call (up to `max_throttle_waits`). A 429 is refused before
Discourse does anything, so re-sending a throttled write is safe; other writes are
never re-sent here (the caller makes them idempotent: `external_id`, `original_text`).

Errors are typed and in plain words; none ever holds the API key.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from app.services.http import CountingRetry, RequestStats, build_session

log = logging.getLogger(__name__)

POST_IDS_PER_REQUEST = 20  # TopicView's chunk size; Discourse serves post_ids[] in chunks like this
MAX_PAGES = 1000


class DiscourseAPIError(Exception):
    """Base: `permanent` says whether retrying can help."""

    permanent = False

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class InvalidApiKey(DiscourseAPIError):
    permanent = True

    def __init__(self, status: int | None = 403):
        super().__init__("Discourse rejected the API key or the API username; check both in the settings.",
                         status=status)


class Forbidden(DiscourseAPIError):
    permanent = True


class NotFound(DiscourseAPIError):
    permanent = True


class Rejected(DiscourseAPIError):
    """Discourse refused the content (422: too short, duplicate external_id, ...)."""

    permanent = True

    def __init__(self, message: str, *, status: int | None = 422, errors: list[str] | None = None):
        super().__init__(message, status=status)
        self.errors = errors or []


class EditConflict(DiscourseAPIError):
    """409: the post changed since `original_text`; `current` is the post as Discourse now has it."""

    def __init__(self, current: dict | None):
        super().__init__("The Discourse post was edited by someone else since we last synced it.", status=409)
        self.current = current


class Throttled(DiscourseAPIError):
    def __init__(self, status: int | None = 429):
        super().__init__("Discourse kept asking us to slow down; we will try again later.", status=status)


class DiscourseUnavailable(DiscourseAPIError):
    pass


class BadResponse(DiscourseAPIError):
    pass


class _LeaveThrottlingToUs(CountingRetry):
    """urllib3 would otherwise sleep out a 429's Retry-After by itself (uncounted, unbounded,
    GET only) before we ever saw it; only 413/503 keep that treatment."""

    RETRY_AFTER_STATUS_CODES = frozenset({413, 503})


def _own_429s(session: requests.Session) -> None:
    for adapter in session.adapters.values():
        retry = getattr(adapter, "max_retries", None)
        if isinstance(retry, CountingRetry):
            clone = retry.new()
            clone.__class__ = _LeaveThrottlingToUs  # same fields; new() keeps the class from here on
            adapter.max_retries = clone


class DiscourseAPIService:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_username: str = "system",
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        max_throttle_waits: int = 8,
        max_wait_s: float = 120.0,
        backoff_factor: float = 0.5,
        stats: RequestStats | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = (connect_timeout, timeout)
        self.max_throttle_waits = max_throttle_waits
        self.max_wait_s = max_wait_s
        self.stats = stats or RequestStats()
        # A key with characters an HTTP header cannot carry could never be sent: treat it as invalid.
        self._key_sendable = bool(api_key) and api_key.isascii() and api_key.isprintable() and " " not in api_key
        # 429 is left out of urllib3's list: we wait it out here, for writes too.
        self.session = session or build_session(
            stats=self.stats, total_retries=max_retries, retry_statuses=(500, 502, 503, 504),
            backoff_factor=backoff_factor,
        )
        _own_429s(self.session)
        if self._key_sendable:
            self.session.headers.update({"Api-Key": api_key, "Api-Username": api_username})
        self._pause_lock = threading.Lock()
        self._paused_until = 0.0
        self.throttle_waits = 0  # total 429s waited out, for tests and run summaries

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- categories and topic lists ---------------------------------------------------

    def categories(self) -> list[dict]:
        body = self._json("GET", "categories.json")
        return list(self._dig(body, "category_list", "categories", kind=list))

    def category_page(self, category_id: int, page: int = 0, per_page: int | None = None) -> dict:
        """One page of a category's topic list: the `topic_list` object."""
        params: dict[str, Any] = {"page": page} if page else {}
        if per_page:
            params["per_page"] = per_page
        return self._dig(self._json("GET", f"c/{int(category_id)}.json", params=params), "topic_list", kind=dict)

    def iter_category_topics(self, category_id: int, per_page: int | None = None) -> Iterator[dict]:
        """Every topic of a category, following `more_topics_url` (present only after a full page)."""
        yield from self._iter_topic_list(f"c/{int(category_id)}.json", per_page)

    def iter_latest_topics(self, per_page: int | None = None, order: str | None = None,
                           ascending: bool = False) -> Iterator[dict]:
        extra: dict[str, str] = {"order": order} if order else {}
        if ascending:
            extra["ascending"] = "true"
        yield from self._iter_topic_list("latest.json", per_page, extra)

    def _iter_topic_list(self, path: str, per_page: int | None, extra: dict | None = None) -> Iterator[dict]:
        seen: set[int] = set()
        for page in range(MAX_PAGES):
            params: dict[str, Any] = dict(extra or {})
            if per_page:
                params["per_page"] = per_page
            if page:
                params["page"] = page
            topic_list = self._dig(self._json("GET", path, params=params), "topic_list", kind=dict)
            topics = topic_list.get("topics") or []
            for topic in topics:
                # Activity order shifts while we read; a topic bumped between pages can appear twice.
                if topic.get("id") not in seen:
                    seen.add(topic.get("id"))
                    yield topic
            if not topics or not topic_list.get("more_topics_url"):
                return
        raise BadResponse(f"Discourse kept sending pages of {path} (more than {MAX_PAGES}).")

    # -- topics and posts -------------------------------------------------------------

    def topic(self, topic_id: int, include_raw: bool = False) -> dict:
        params = {"include_raw": "true"} if include_raw else None
        return self._expect(self._json("GET", f"t/{int(topic_id)}.json", params=params), dict)

    def topic_by_external_id(self, external_id: str) -> dict | None:
        """The topic we created with this `external_id` (Discourse redirects to it), or None."""
        try:
            return self._expect(self._json("GET", f"t/external_id/{requests.utils.quote(external_id, safe='')}.json"),
                                dict)
        except NotFound:
            return None

    def topic_posts(self, topic_id: int, post_ids: list[int], include_raw: bool = False) -> list[dict]:
        posts: list[dict] = []
        for start in range(0, len(post_ids), POST_IDS_PER_REQUEST):
            params: dict[str, Any] = {"post_ids[]": [int(p) for p in post_ids[start:start + POST_IDS_PER_REQUEST]]}
            if include_raw:
                params["include_raw"] = "true"
            body = self._json("GET", f"t/{int(topic_id)}/posts.json", params=params)
            posts.extend(self._dig(body, "post_stream", "posts", kind=list))
        return posts

    def all_topic_posts(self, topic_id: int, include_raw: bool = False) -> tuple[dict, list[dict]]:
        """The topic and every post of it, in stream order: the first chunk plus the rest by id."""
        topic = self.topic(topic_id, include_raw=include_raw)
        stream = self._dig(topic, "post_stream", kind=dict)
        posts = list(stream.get("posts") or [])
        have = {p.get("id") for p in posts}
        missing = [pid for pid in stream.get("stream") or [] if pid not in have]
        if missing:
            posts.extend(self.topic_posts(topic_id, missing, include_raw=include_raw))
        order = {pid: i for i, pid in enumerate(stream.get("stream") or [])}
        posts.sort(key=lambda p: order.get(p.get("id"), len(order)))
        return topic, posts

    def post(self, post_id: int) -> dict:
        return self._expect(self._json("GET", f"posts/{int(post_id)}.json"), dict)

    def latest_revision(self, post_id: int) -> dict | None:
        try:
            return self._expect(self._json("GET", f"posts/{int(post_id)}/revisions/latest.json"), dict)
        except NotFound:
            return None

    def create_topic(self, category_id: int, title: str, raw: str, *, external_id: str | None = None,
                     skip_validations: bool = True) -> dict:
        """POST /posts.json for a new topic; returns the first post (`id`, `topic_id`, `version`...)."""
        payload: dict[str, Any] = {"title": title, "raw": raw, "category": int(category_id)}
        if external_id:
            payload["external_id"] = external_id
        if skip_validations:
            payload["skip_validations"] = True
        return self._expect(self._json("POST", "posts.json", json=payload), dict)

    def create_post(self, topic_id: int, raw: str, *, reply_to_post_number: int | None = None,
                    skip_validations: bool = True) -> dict:
        payload: dict[str, Any] = {"topic_id": int(topic_id), "raw": raw}
        if reply_to_post_number:
            payload["reply_to_post_number"] = int(reply_to_post_number)
        if skip_validations:
            payload["skip_validations"] = True
        return self._expect(self._json("POST", "posts.json", json=payload), dict)

    def update_post(self, post_id: int, raw: str, *, original_text: str | None = None, title: str | None = None,
                    edit_reason: str | None = None) -> dict:
        """PUT /posts/{id}.json; a stale `original_text` raises EditConflict with the post as it now is."""
        post: dict[str, Any] = {"raw": raw}
        if original_text is not None:
            post["original_text"] = original_text
        if edit_reason:
            post["edit_reason"] = edit_reason
        payload: dict[str, Any] = {"post": post}
        if title is not None:
            payload["title"] = title
        try:
            body = self._json("PUT", f"posts/{int(post_id)}.json", json=payload)
        except EditConflict:
            raise EditConflict(self.post(post_id)) from None
        return self._dig(body, "post", kind=dict)

    def delete_post(self, post_id: int) -> None:
        self._request("DELETE", f"posts/{int(post_id)}.json")

    def delete_topic(self, topic_id: int) -> None:
        self._request("DELETE", f"t/{int(topic_id)}.json")

    # -- one request ------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs):
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise BadResponse(f"Discourse sent an unreadable response for {_path(response.url)}.",
                              status=response.status_code) from None

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        if not self._key_sendable:
            raise InvalidApiKey(status=None)
        url = urljoin(self.base_url, path)
        waits = 0
        while True:
            self._wait_if_paused()
            try:
                self.stats.add(requests=1)
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
                _ = response.content
            except requests.exceptions.RetryError:
                raise DiscourseUnavailable(f"Discourse kept failing for {_path(url)}; try again later.") from None
            except requests.exceptions.Timeout:
                raise DiscourseUnavailable(f"Discourse did not answer in time ({_path(url)}).") from None
            except requests.exceptions.ConnectionError:
                raise DiscourseUnavailable(
                    f"Could not reach Discourse at {urlsplit(self.base_url).netloc} ({_path(url)}).") from None
            self.stats.add(bytes=len(response.content))
            if response.status_code < 400:
                return response
            if response.status_code == 429:
                waits += 1
                self.stats.add(throttles=1)
                if waits > self.max_throttle_waits:
                    raise Throttled()
                delay = min(self.max_wait_s, _wait_seconds(response)) + random.uniform(0, 0.05)
                log.info("event=discourse_throttled path=%s wait_s=%.2f", _path(url), delay)
                self._pause(delay)
                continue
            raise _error_for(response)

    def _pause(self, seconds: float) -> None:
        with self._pause_lock:
            self.throttle_waits += 1
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _wait_if_paused(self) -> None:
        # Other threads may extend the pause while we sleep; each extension is at most max_wait_s.
        for _ in range(self.max_throttle_waits + 2):
            with self._pause_lock:
                remaining = self._paused_until - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, self.max_wait_s))

    @staticmethod
    def _expect(value, kind: type):
        if not isinstance(value, kind):
            raise BadResponse(f"Discourse sent {type(value).__name__} where a {kind.__name__} was expected.")
        return value

    @classmethod
    def _dig(cls, value, *keys: str, kind: type):
        for key in keys:
            value = cls._expect(value, dict).get(key)
        return cls._expect(value, kind)


def _wait_seconds(response: requests.Response) -> float:
    """extras.wait_seconds, else Retry-After, else 1 s (what Discourse sends: whole seconds)."""
    try:
        extras = response.json().get("extras") or {}
        if extras.get("wait_seconds") is not None:
            return max(0.0, float(extras["wait_seconds"]))
    except (ValueError, AttributeError, TypeError):
        pass
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _errors(response: requests.Response) -> tuple[list[str], str | None]:
    try:
        body = response.json()
    except ValueError:
        return [], None
    if not isinstance(body, dict):
        return [], None
    errors = body.get("errors")
    errors = [str(e) for e in errors] if isinstance(errors, list) else ([str(errors)] if errors else [])
    return errors, body.get("error_type")


def _error_for(response: requests.Response) -> DiscourseAPIError:
    status = response.status_code
    errors, error_type = _errors(response)
    path = _path(response.url)
    if status == 403 and (error_type == "not_logged_in" or any("API username or key" in e for e in errors)):
        return InvalidApiKey(status)
    if status == 403:
        return Forbidden(f"Discourse says this API user may not do that ({path}).", status=status)
    if status == 404:
        return NotFound(f"Discourse has no {path} (it may have been deleted).", status=status)
    if status == 409:
        return EditConflict(None)
    if status in (400, 422):
        detail = "; ".join(errors)[:300] or "no reason given"
        return Rejected(f"Discourse refused the content ({detail}).", status=status, errors=errors)
    if status >= 500:
        return DiscourseUnavailable(f"Discourse had an internal error ({status}); try again later.", status=status)
    return DiscourseAPIError(f"Discourse refused the request ({status}) for {path}.", status=status)


def _path(url: str) -> str:
    """The path of a URL without its query string."""
    return urlsplit(url).path or url
