"""CanvasAPIService: typed calls to the Canvas REST API over the shared client (app/services/http.py).

The shared client sends, retries 5xx, bounds time and size and keeps to the configured
origin. What is Canvas's own is here: only the body text tells a throttling 403 from a
permission 403, so `_is_throttle` tells the client which answers to wait out (every
thread of the run pauses through the leaky-bucket mirror), and `_error_for` maps the
rest to typed errors.
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from typing import Any

import orjson
import requests

from app.services.canvas_errors import (
    BadResponse,
    CanvasAPIError,
    CanvasUnavailable,
    Forbidden,
    InsufficientScope,
    InvalidToken,
    NotFound,
    RunTimeExceeded,
    Throttled,
    Unauthorized,
)
from app.services.egress import EgressPolicy
from app.services.http import (
    HttpClient,
    LeakyBucketThrottle,
    RequestStats,
    SystemErrors,
    backoff_delay,
    build_session,
    excerpt,
    url_path,
)
from app.services.oauth_client import OAuthRefused, SharedAccessToken
from app.services.pagination import LinkHeaderPaginator, PaginationError, known_page_urls, max_pages_setting

__all__ = [
    "BadResponse", "CanvasAPIError", "CanvasAPIService", "CanvasUnavailable", "Forbidden",
    "InsufficientScope", "InvalidToken", "NotFound", "RunTimeExceeded", "Throttled", "Unauthorized",
]

log = logging.getLogger(__name__)

RATE_LIMIT_TEXT = "rate limit exceeded"
# A request refused for its token is sent again after the shared refresh; a second refusal
# (the new token already replaced by another thread's refresh) gets one more try.
REFRESHED_ATTEMPTS = 3


class CanvasAPIService:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 5,
        max_throttle_waits: int = 8,
        per_page: int = 100,
        page_workers: int = 5,
        max_concurrency: int = 12,
        backoff_factor: float = 0.5,
        deadline_s: float | None = None,
        max_body_bytes: int | None = None,
        max_pages: int | None = None,
        policy: EgressPolicy | None = None,
        stats: RequestStats | None = None,
        token_source: SharedAccessToken | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_url = f"{self.base_url}/api/v1/"
        self.per_page = per_page
        self.max_retries = max_retries
        self.max_pages = max_pages_setting(max_pages)
        self.backoff_factor = backoff_factor
        self.stats = stats or RequestStats()
        # An HTTP header carries only visible ASCII: a pasted token with other characters
        # (found by fuzzing the settings form) could not even be sent; Canvas tokens never have them.
        self._token_sendable = bool(token) and token.isascii() and token.isprintable() and " " not in token
        # Signed in with Canvas: each request takes the run's shared token, refreshed as it expires.
        self.token_source = token_source
        if token_source is not None:
            self._token_sendable = True
        self.throttle = LeakyBucketThrottle(max_concurrency=max_concurrency)
        self.session = build_session(
            stats=self.stats, total_retries=max_retries, backoff_factor=backoff_factor, policy=policy,
            headers={"Authorization": f"Bearer {token}"} if self._token_sendable and token_source is None else None,
        )
        self.http = HttpClient(
            self.session, CANVAS_ERRORS, [self.base_url], stats=self.stats, timeout=timeout,
            connect_timeout=connect_timeout, deadline_s=deadline_s, max_body_bytes=max_body_bytes,
            max_retries=max_retries, max_throttle_waits=max_throttle_waits, backoff_factor=backoff_factor,
            throttle=self.throttle, rate_limit_header="X-Rate-Limit-Remaining", is_throttled=_is_throttle,
        )
        self._page_pool = ThreadPoolExecutor(max_workers=page_workers, thread_name_prefix="canvas-page")

    @classmethod
    def for_user(cls, user, **kwargs) -> CanvasAPIService:
        if not user.has_canvas:
            raise CanvasAPIError("Connect your Canvas account first: add the Canvas URL and an access token.")
        if "token_source" not in kwargs:
            from app.services.canvas_oauth import token_source_for

            kwargs["token_source"] = token_source_for(user, policy=kwargs.get("policy"))
        return cls(user.canvas_base_url, user.canvas_token, **kwargs)

    def close(self) -> None:
        self._page_pool.shutdown(wait=False, cancel_futures=True)
        self.session.close()
        if self.token_source is not None:
            self.token_source.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- typed calls ---------------------------------------------------------------

    def get_self(self) -> dict:
        return self._expect(self._get_json("users/self"), dict)

    def get_courses(self, include_term: bool = True, enrollment_state: str | None = None,
                    include_scores: bool = False) -> list[dict]:
        """The user's courses; a course they may no longer open comes as a bare
        ``{"id", "access_restricted_by_date": true}`` stub. ``include_scores`` asks for a
        student's own total_scores on their enrollment."""
        params: dict[str, Any] = {"include[]": (["term"] if include_term else []) + (
            ["total_scores"] if include_scores else [])}
        if enrollment_state:
            params["enrollment_state"] = enrollment_state
        return self._get_list("courses", params)

    def get_course_page(self, per_page: int = 1) -> list[dict]:
        """The first page of the course list only: proof the token may list courses."""
        return self._expect(self._get_json("courses", {"per_page": per_page}), list)

    def get_course(self, course_id: int, include_term: bool = True, include_scores: bool = False) -> dict:
        includes = (["term"] if include_term else []) + (["total_scores"] if include_scores else [])
        params = {"include[]": includes} if includes else None
        return self._expect(self._get_json(f"courses/{course_id}", params), dict)

    def get_assignment_groups(self, course_id: int, include_assignments: bool = True) -> list[dict]:
        params = {"include[]": ["assignments"]} if include_assignments else {}
        return self._get_list(f"courses/{course_id}/assignment_groups", params)

    def get_assignments(self, course_id: int) -> list[dict]:
        return self._get_list(f"courses/{course_id}/assignments", {"order_by": "position"})

    def get_submissions(self, course_id: int, since=None, **filters) -> list[dict]:
        """Every student's submissions of a course from the bulk endpoint (bookmark pages).

        `since` is shorthand for `graded_since`. Canvas ANDs `graded_since` and
        `submitted_since`, so callers wanting either change make two calls.
        """
        return [sub for page in self.iter_submission_pages(course_id, since, **filters) for sub in page]

    def iter_submission_pages(
        self,
        course_id: int,
        since=None,
        *,
        graded_since=None,
        submitted_since=None,
        assignment_ids: list[int] | None = None,
        student_ids: str | None = "all",
    ) -> Iterator[list[dict]]:
        """get_submissions one page at a time, each yielded as it arrives (memory: one page)."""
        params: dict[str, Any] = {"order": "id"}
        if student_ids:
            params["student_ids[]"] = student_ids
        if since is not None and graded_since is None:
            graded_since = since
        if graded_since is not None:
            params["graded_since"] = _iso(graded_since)
        if submitted_since is not None:
            params["submitted_since"] = _iso(submitted_since)
        if assignment_ids:
            params["assignment_ids[]"] = [str(a) for a in assignment_ids]
        return self._iter_pages(f"courses/{course_id}/students/submissions", params)

    # -- discussions (endpoints of canvas-lms discussion_topics_api_controller.rb) ---------

    def get_discussion_topics(self, course_id: int | str) -> list[dict]:
        return self._get_list(f"courses/{course_id}/discussion_topics", {})

    def get_discussion_topic(self, course_id: int | str, topic_id: int | str) -> dict:
        return self._expect(self._get_json(f"courses/{course_id}/discussion_topics/{topic_id}"), dict)

    def create_discussion_topic(self, course_id: int | str, title: str, message: str, *,
                                published: bool = True) -> dict:
        return self._send("POST", f"courses/{course_id}/discussion_topics",
                          {"title": title, "message": message, "published": published})

    def update_discussion_topic(self, course_id: int | str, topic_id: int | str, **fields) -> dict:
        return self._send("PUT", f"courses/{course_id}/discussion_topics/{topic_id}", fields)

    def delete_discussion_topic(self, course_id: int | str, topic_id: int | str) -> None:
        self._request("DELETE", self._url(f"courses/{course_id}/discussion_topics/{topic_id}"))

    def get_discussion_entries(self, course_id: int | str, topic_id: int | str) -> list[dict]:
        return self._get_list(f"courses/{course_id}/discussion_topics/{topic_id}/entries", {})

    def get_discussion_replies(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> list[dict]:
        return self._get_list(f"courses/{course_id}/discussion_topics/{topic_id}/entries/{entry_id}/replies", {})

    def get_discussion_entry_list(self, course_id: int | str, topic_id: int | str, ids: list) -> list[dict]:
        return self._expect(self._get_json(f"courses/{course_id}/discussion_topics/{topic_id}/entry_list",
                                           {"ids[]": [str(i) for i in ids]}), list)

    def create_discussion_entry(self, course_id: int | str, topic_id: int | str, message: str) -> dict:
        return self._send("POST", f"courses/{course_id}/discussion_topics/{topic_id}/entries", {"message": message})

    def update_discussion_entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str,
                                message: str) -> dict:
        return self._send("PUT", f"courses/{course_id}/discussion_topics/{topic_id}/entries/{entry_id}",
                          {"message": message})

    def delete_discussion_entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> None:
        self._request("DELETE", self._url(f"courses/{course_id}/discussion_topics/{topic_id}/entries/{entry_id}"))

    # -- the user's own planner and profile ------------------------------------------

    def get_profile(self) -> dict:
        """users/self/profile: carries the user's IANA ``time_zone``."""
        return self._expect(self._get_json("users/self/profile"), dict)

    def get_planner_overrides(self) -> list[dict]:
        """The caller's own active planner overrides (none deleted, none of an unpublished or deleted
        plannable); numbered pages, so one request for a user with few marks."""
        return self._get_list("planner/overrides", {})

    def create_planner_override(self, plannable_id: int, marked_complete: bool,
                                plannable_type: str = "assignment") -> dict:
        return self._send("POST", "planner/overrides", {
            "plannable_type": plannable_type, "plannable_id": plannable_id, "marked_complete": marked_complete})

    def update_planner_override(self, override_id: int, marked_complete: bool) -> dict:
        return self._send("PUT", f"planner/overrides/{override_id}", {"marked_complete": marked_complete})

    # -- pagination ----------------------------------------------------------------

    def _get_list(self, path: str, params: dict) -> list[dict]:
        return [item for page in self._iter_pages(path, params) for item in page]

    def _iter_pages(self, path: str, params: dict) -> Iterator[list[dict]]:
        params = {**params, "per_page": self.per_page}
        response, first = self._get(self._url(path), params)
        yield self._expect(first, list)
        paginator = LinkHeaderPaginator(response.url, check_link=self.http.check_link, max_pages=self.max_pages)
        try:
            rest = known_page_urls(response)
            if rest is not None:
                # Numbered pages with a known last page: fetch them concurrently, keep the order.
                paginator.skip(len(rest))
                for url in rest:
                    self.http.check_link(url, "last page link")
                for page in self._page_pool.map(lambda url: self._get(url)[1], rest):
                    yield self._expect(page, list)
                return
            paginator.advance(response)
            while paginator.has_more:
                response, page = self._get(paginator.next_url)
                yield self._expect(page, list)
                paginator.advance(response)
        except PaginationError as exc:
            raise _pages_error(exc, path) from None

    # -- one request ---------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.api_url + path

    def _get_json(self, path: str, params: dict | None = None):
        return self._get(self._url(path), params)[1]

    def _get(self, url: str, params: dict | None = None) -> tuple[requests.Response, Any]:
        """GET a URL and decode it; a malformed body (truncated by a proxy, say) is fetched again."""
        for attempt in range(1, self.max_retries + 2):
            response = self._request("GET", url, params=params)
            try:
                # orjson decodes the bytes directly (no text decode first) and is several times
                # faster than json; its JSONDecodeError is a ValueError, handled as before.
                return response, orjson.loads(response.content)
            except ValueError as exc:
                if attempt > self.max_retries:
                    raise BadResponse(
                        f"Canvas sent an unreadable response for {_api_path(url)} ({type(exc).__name__}).",
                        status=response.status_code,
                    ) from None
                self.stats.add(retries=1)
                log.warning("event=canvas_bad_body path=%s attempt=%d", _api_path(url), attempt)
                time.sleep(backoff_delay(attempt, base=self.backoff_factor / 4, cap=2.0))
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, payload: dict) -> dict:
        response = self._request(method, self._url(path), json=payload)
        try:
            return self._expect(response.json(), dict)
        except ValueError:
            raise BadResponse(f"Canvas sent an unreadable response for {_api_path(response.url)}.") from None

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        if not self._token_sendable:
            raise InvalidToken("invalid", status=None)
        if self.token_source is None:
            return self.http.request(method, url, what=_api_path(url), **kwargs)
        try:
            token = self.token_source.current()
            for attempt in range(1, REFRESHED_ATTEMPTS + 1):
                try:
                    return self.http.request(method, url, what=_api_path(url),
                                             headers={"Authorization": f"Bearer {token}"}, **kwargs)
                except InvalidToken:
                    if attempt == REFRESHED_ATTEMPTS:
                        raise
                    token = self.token_source.after_unauthorized(token)
            raise AssertionError("unreachable")
        except OAuthRefused as exc:  # the token endpoint failed without refusing the refresh token
            raise CanvasAPIError(str(exc), status=exc.status, retriable=exc.retriable) from None

    @staticmethod
    def _expect(value, kind: type):
        if not isinstance(value, kind):
            raise BadResponse(f"Canvas sent {type(value).__name__} where a {kind.__name__} was expected.")
        return value


def _api_path(url: str) -> str:
    return url_path(url, "/api/v1/")


def _pages_error(exc: PaginationError, path: str) -> BadResponse:
    if exc.reason == "loop":
        return BadResponse(f"Canvas's pages of {path} loop back on themselves; stopped.")
    return BadResponse(f"Canvas kept sending pages of {path} (more than {exc.pages}); stopped.")


def _is_throttle(response: requests.Response) -> bool:
    if response.status_code not in (403, 429):
        return False
    return response.status_code == 429 or RATE_LIMIT_TEXT in response.text.lower()


def _error_for(response: requests.Response) -> CanvasAPIError:
    status = response.status_code
    message = _first_error_message(response)
    lowered = message.lower()
    if status == 401 and "www-authenticate" in {k.lower() for k in response.headers}:
        reason = "expired" if "expired" in lowered else "revoked" if "revoked" in lowered else "invalid"
        return InvalidToken(reason, status=status)
    if "insufficient scope" in lowered:
        return InsufficientScope(status=status)
    if status in (401, 403) and _is_unauthorized_action(response):
        return Unauthorized(f"Canvas says this account may no longer open this ({_api_path(response.url)}).",
                            status=status)
    if status in (401, 403):
        return Forbidden(f"Canvas says this account may not do that ({_api_path(response.url)}).", status=status)
    if status == 404:
        return NotFound(f"Canvas has no {_api_path(response.url)} (it may have been deleted).", status=status)
    if status >= 500:
        return CanvasUnavailable(f"Canvas had an internal error ({status}); try again later.", status=status)
    log.info("event=canvas_refused status=%d path=%s detail=%r", status, _api_path(response.url), excerpt(message))
    return CanvasAPIError(f"Canvas refused the request for {_api_path(response.url)} ({status}).", status=status,
                          retriable=status == 429 or status >= 500)


def _is_unauthorized_action(response: requests.Response) -> bool:
    """Canvas's render_unauthorized_action body: {"status": "unauthorized", "errors": [...]}."""
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if body.get("status") == "unauthorized":
        return True
    errors = body.get("errors")
    return (isinstance(errors, list) and bool(errors) and isinstance(errors[0], dict)
            and "not authorized to perform that action" in str(errors[0].get("message", "")))


def _first_error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return excerpt(response.text)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))
    if isinstance(errors, dict):
        return json.dumps(errors)
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return ""


def _iso(value) -> str:
    if isinstance(value, str):
        return value
    from datetime import timezone

    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


CANVAS_ERRORS = SystemErrors(
    name="Canvas", base=CanvasAPIError, unavailable=CanvasUnavailable, throttled=Throttled, bad_response=BadResponse,
    error_for=_error_for, over_time=RunTimeExceeded,
)
