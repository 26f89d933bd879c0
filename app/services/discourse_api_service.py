"""DiscourseAPIService: typed calls to the Discourse API over the shared client (app/services/http.py).

The shared client retries reads on 5xx and waits out 429s: Discourse sends `Retry-After`
and `extras.wait_seconds` (`_wait_seconds` tells the client which); every thread using
this client pauses that long and the request is sent again, so throttling slows us down
and never fails a call (up to `max_throttle_waits`). A 429 is refused before Discourse
does anything, so re-sending a throttled write is safe; other writes are never re-sent
(the caller makes them idempotent: `external_id`, `original_text`).

Errors are typed and in plain words; none ever holds the API key.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import requests

from app.services.egress import EgressPolicy
from app.services.http import (
    ApiError,
    HttpClient,
    PauseThrottle,
    RequestStats,
    SystemErrors,
    build_session,
    excerpt,
    url_path,
)
from app.services.pagination import PageNumberPaginator, PaginationError, max_pages_setting

log = logging.getLogger(__name__)

POST_IDS_PER_REQUEST = 20  # TopicView's chunk size; Discourse serves post_ids[] in chunks like this


class DiscourseAPIError(ApiError):
    system = "Discourse"


class InvalidApiKey(DiscourseAPIError):
    def __init__(self, status: int | None = 403):
        super().__init__("Discourse rejected the API key or the API username; check both in the settings.",
                         status=status)


class Forbidden(DiscourseAPIError):
    pass


class NotFound(DiscourseAPIError):
    pass


class Rejected(DiscourseAPIError):
    """Discourse refused the content (422: too short, duplicate external_id, ...)."""

    def __init__(self, message: str, *, status: int | None = 422, errors: list[str] | None = None):
        super().__init__(message, status=status)
        self.errors = errors or []


class EditConflict(DiscourseAPIError):
    """409: the post changed since `original_text`; `current` is the post as Discourse now has it."""

    retriable = True

    def __init__(self, current: dict | None):
        super().__init__("The Discourse post was edited by someone else since we last synced it.", status=409)
        self.current = current


class Throttled(DiscourseAPIError):
    retriable = True

    def __init__(self, status: int | None = 429):
        super().__init__("Discourse kept asking us to slow down; we will try again later.", status=status)


class DiscourseUnavailable(DiscourseAPIError):
    retriable = True


class BadResponse(DiscourseAPIError):
    pass


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
        deadline_s: float | None = None,
        max_body_bytes: int | None = None,
        max_pages: int | None = None,
        policy: EgressPolicy | None = None,
        stats: RequestStats | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.max_pages = max_pages_setting(max_pages)
        self.stats = stats or RequestStats()
        # A key with characters an HTTP header cannot carry could never be sent: treat it as invalid.
        self._key_sendable = bool(api_key) and api_key.isascii() and api_key.isprintable() and " " not in api_key
        self.session = session or build_session(stats=self.stats, total_retries=max_retries,
                                                backoff_factor=backoff_factor, policy=policy)
        if self._key_sendable:
            self.session.headers.update({"Api-Key": api_key, "Api-Username": api_username})
        self.pause = PauseThrottle()
        self.http = HttpClient(
            self.session, DISCOURSE_ERRORS, [self.base_url], stats=self.stats, timeout=timeout,
            connect_timeout=connect_timeout, deadline_s=deadline_s, max_body_bytes=max_body_bytes,
            max_retries=max_retries, max_throttle_waits=max_throttle_waits, backoff_factor=backoff_factor,
            backoff_max=max_wait_s, throttle=self.pause, throttle_wait=_wait_seconds,
        )

    @property
    def throttle_waits(self) -> int:
        """Total 429s waited out, for tests and run summaries."""
        return self.stats.throttles

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
        paginator = PageNumberPaginator(max_pages=self.max_pages)
        while paginator.has_more:
            params: dict[str, Any] = dict(extra or {})
            if per_page:
                params["per_page"] = per_page
            if paginator.page:
                params["page"] = paginator.page
            topic_list = self._dig(self._json("GET", path, params=params), "topic_list", kind=dict)
            topics = topic_list.get("topics") or []
            for topic in topics:
                # Activity order shifts while we read; a topic bumped between pages can appear twice.
                if topic.get("id") not in seen:
                    seen.add(topic.get("id"))
                    yield topic
            try:
                paginator.advance(topics, bool(topic_list.get("more_topics_url")))
            except PaginationError as exc:
                raise BadResponse(f"Discourse kept sending pages of {path} (more than {exc.pages}); stopped.") from None

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
            raise BadResponse(f"Discourse sent an unreadable response for {url_path(response.url)}.",
                              status=response.status_code) from None

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        if not self._key_sendable:
            raise InvalidApiKey(status=None)
        return self.http.request(method, self.base_url + path, **kwargs)

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
    path = url_path(response.url)
    if status == 403 and (error_type == "not_logged_in" or any("API username or key" in e for e in errors)):
        return InvalidApiKey(status)
    if status == 403:
        return Forbidden(f"Discourse says this API user may not do that ({path}).", status=status)
    if status == 404:
        return NotFound(f"Discourse has no {path} (it may have been deleted).", status=status)
    if status == 409:
        return EditConflict(None)
    if status in (400, 422):
        detail = excerpt("; ".join(errors), 300) or "no reason given"
        return Rejected(f"Discourse refused the content ({detail}).", status=status, errors=errors)
    if status >= 500:
        return DiscourseUnavailable(f"Discourse had an internal error ({status}); try again later.", status=status)
    return DiscourseAPIError(f"Discourse refused the request ({status}) for {path}.", status=status)


DISCOURSE_ERRORS = SystemErrors(
    name="Discourse", base=DiscourseAPIError, unavailable=DiscourseUnavailable,
    throttled=lambda status=None: Throttled(status), bad_response=BadResponse, error_for=_error_for,
)
