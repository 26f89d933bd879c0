"""CanvasAPIService: typed calls to the Canvas REST API over one pooled session.

Transport retries (connection errors, 5xx) are urllib3's (see app/services/http.py).
Canvas throttling is handled here because only the body text tells a throttling 403
from a permission 403: we pause every thread of the run, wait and retry, and never
report it as a permission error.
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

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
    Throttled,
    Unauthorized,
)
from app.services.http import LeakyBucketThrottle, RequestStats, backoff_delay, build_session
from app.services.pagination import NextLinkPaginator, known_page_urls

__all__ = [
    "BadResponse", "CanvasAPIError", "CanvasAPIService", "CanvasUnavailable", "Forbidden",
    "InsufficientScope", "InvalidToken", "NotFound", "Throttled", "Unauthorized",
]

log = logging.getLogger(__name__)

RATE_LIMIT_TEXT = "rate limit exceeded"
# Transport faults urllib3 cannot retry because they happen while reading the body.
BODY_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


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
        stats: RequestStats | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_url = f"{self.base_url}/api/v1/"
        self.per_page = per_page
        self.timeout = (connect_timeout, timeout)
        self.max_retries = max_retries
        self.max_throttle_waits = max_throttle_waits
        self.backoff_factor = backoff_factor
        self.stats = stats or RequestStats()
        # An HTTP header carries only visible ASCII: a pasted token with other characters
        # (found by fuzzing the settings form) could not even be sent; Canvas tokens never have them.
        self._token_sendable = bool(token) and token.isascii() and token.isprintable() and " " not in token
        self.throttle = LeakyBucketThrottle(max_concurrency=max_concurrency)
        # 429 is left out of urllib3's list: like 403 it may be Canvas throttling, handled below.
        self.session = build_session(
            stats=self.stats, total_retries=max_retries, retry_statuses=(500, 502, 503, 504),
            backoff_factor=backoff_factor,
            headers={"Authorization": f"Bearer {token}"},
        )
        self._page_pool = ThreadPoolExecutor(max_workers=page_workers, thread_name_prefix="canvas-page")

    @classmethod
    def for_user(cls, user, **kwargs) -> CanvasAPIService:
        if not user.has_canvas:
            raise CanvasAPIError("Connect your Canvas account first: add the Canvas URL and an access token.")
        return cls(user.canvas_base_url, user.canvas_token, **kwargs)

    def close(self) -> None:
        self._page_pool.shutdown(wait=False, cancel_futures=True)
        self.session.close()

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

    # -- the user's own planner and profile ------------------------------------------

    def get_profile(self) -> dict:
        """users/self/profile: carries the user's IANA ``time_zone``."""
        return self._expect(self._get_json("users/self/profile"), dict)

    def get_planner_items(self, start_date=None, end_date=None) -> list[dict]:
        """The caller's planner items, each with its ``planner_override`` (or None); bookmark pages."""
        params: dict[str, Any] = {}
        if start_date is not None:
            params["start_date"] = _iso(start_date)
        if end_date is not None:
            params["end_date"] = _iso(end_date)
        return self._get_list("planner/items", params)

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
        rest = known_page_urls(response)
        if rest is not None:
            # Numbered pages with a known last page: fetch them concurrently, keep the order.
            for page in self._page_pool.map(lambda url: self._get(url)[1], rest):
                yield self._expect(page, list)
            return
        paginator = NextLinkPaginator(response.url)
        paginator.advance(response)
        while paginator.has_more:
            response, page = self._get(paginator.next_url)
            yield self._expect(page, list)
            paginator.advance(response)

    # -- one request ---------------------------------------------------------------

    def _url(self, path: str) -> str:
        return urljoin(self.api_url, path)

    def _get_json(self, path: str, params: dict | None = None):
        return self._get(self._url(path), params)[1]

    def _get(self, url: str, params: dict | None = None) -> tuple[requests.Response, Any]:
        """GET a URL and decode it; transient body faults (truncated, malformed) are retried."""
        for attempt in range(1, self.max_retries + 2):
            response = self._request("GET", url, params=params)
            try:
                # orjson decodes the bytes directly (no text decode first) and is several times
                # faster than json; its JSONDecodeError is a ValueError, handled as before.
                return response, orjson.loads(response.content)
            except (ValueError, *BODY_ERRORS) as exc:
                if attempt > self.max_retries:
                    raise BadResponse(
                        f"Canvas sent an unreadable response for {_path(url)} ({type(exc).__name__}).",
                        status=response.status_code,
                    ) from None
                self.stats.add(retries=1)
                log.warning("event=canvas_bad_body path=%s attempt=%d", _path(url), attempt)
                time.sleep(backoff_delay(attempt, base=self.backoff_factor / 4, cap=2.0))
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, payload: dict) -> dict:
        response = self._request(method, self._url(path), json=payload)
        try:
            return self._expect(response.json(), dict)
        except ValueError:
            raise BadResponse(f"Canvas sent an unreadable response for {_path(response.url)}.") from None

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        if not self._token_sendable:
            raise InvalidToken("invalid", status=None)
        throttle_waits = 0
        body_faults = 0
        while True:
            self.throttle.acquire()
            remaining = None
            try:
                self.stats.add(requests=1)
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
                _ = response.content  # read the body inside the throttle slot
                remaining = _float(response.headers.get("X-Rate-Limit-Remaining"))
            except BODY_ERRORS:
                body_faults += 1
                if method not in ("GET", "HEAD"):  # a write may have happened: resending could do it twice
                    raise CanvasUnavailable(f"Canvas cut off its answer to a {method} on {_path(url)}.") from None
                if body_faults > self.max_retries:
                    raise CanvasUnavailable(f"Canvas kept dropping the connection while sending {_path(url)}.") from None
                self.stats.add(retries=1)
                continue
            except requests.exceptions.RetryError:
                raise CanvasUnavailable(f"Canvas kept failing for {_path(url)}; try again later.") from None
            except requests.exceptions.Timeout:
                raise CanvasUnavailable(f"Canvas did not answer in time ({_path(url)}).") from None
            except requests.exceptions.ConnectionError:
                raise CanvasUnavailable(f"Could not reach Canvas at {urlsplit(self.base_url).netloc}.") from None
            finally:
                self.throttle.release(remaining)
            self.stats.add(bytes=len(response.content))

            if response.status_code < 400:
                return response
            if _is_throttle(response):
                throttle_waits += 1
                self.stats.add(throttles=1)
                if throttle_waits > self.max_throttle_waits:
                    raise Throttled(status=response.status_code)
                delay = backoff_delay(throttle_waits, base=self.backoff_factor, cap=30.0, retry_after=response.headers.get("Retry-After"))
                log.info("event=canvas_throttled path=%s status=%d wait_s=%.2f", _path(url), response.status_code, delay)
                self.throttle.throttled(delay)
                continue
            raise _error_for(response)

    @staticmethod
    def _expect(value, kind: type):
        if not isinstance(value, kind):
            raise BadResponse(f"Canvas sent {type(value).__name__} where a {kind.__name__} was expected.")
        return value


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
        return Unauthorized(f"Canvas says this account may no longer open this ({_path(response.url)}).",
                            status=status)
    if status in (401, 403):
        return Forbidden(f"Canvas says this account may not do that ({_path(response.url)}).", status=status)
    if status == 404:
        return NotFound(f"Canvas has no {_path(response.url)} (it may have been deleted).", status=status)
    if status >= 500:
        return CanvasUnavailable(f"Canvas had an internal error ({status}); try again later.", status=status)
    return CanvasAPIError(f"Canvas refused the request ({status}: {message[:200]}).", status=status)


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
        return response.text[:200]
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))
    if isinstance(errors, dict):
        return json.dumps(errors)
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return ""


def _path(url: str) -> str:
    """The API path of a URL, without the query string (which could carry a token)."""
    path = urlsplit(url).path
    return path.split("/api/v1/", 1)[-1] or path


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _iso(value) -> str:
    if isinstance(value, str):
        return value
    from datetime import timezone

    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
