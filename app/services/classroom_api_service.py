"""ClassroomAPIService: Google Classroom v1 and Admin Reports v1 (usage) over one pooled session.

Requests go through the shared client (app/services/http.py): it retries connection
errors and 5xx and waits out Google's 429 RESOURCE_EXHAUSTED with exponential backoff
(Google sends no Retry-After, so the backoff is ours), counted in the run's stats, and
never follows a redirect off the Classroom and Reports hosts. What is left when the
retries run out becomes one of the plain-words errors below. Lists are iterators that
follow ``nextPageToken`` one page at a time (`PageTokenPaginator`), so a caller that has
seen enough (courseWork by ``updateTime desc``) stops before the next request.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import requests

from app.services.http import (
    ApiError,
    HttpClient,
    RequestStats,
    SystemErrors,
    build_session,
    excerpt,
    url_path,
)
from app.services.oauth_client import OAuthRefused, SharedAccessToken
from app.services.pagination import PageTokenPaginator, PaginationError, max_pages_setting

log = logging.getLogger(__name__)

CLASSROOM_URL = "https://classroom.googleapis.com"
REPORTS_URL = "https://admin.googleapis.com"
USAGE_PARAMETERS = ("classroom:timestamp_last_interaction", "classroom:num_posts_created",
                    "classroom:num_courses_created", "classroom:role", "accounts:last_login_time")
NOT_YET_AVAILABLE = "is not yet available"


class ClassroomAPIError(ApiError):
    """Every message is plain words, safe to show a user, and never holds the token."""

    system = "Google"


class InvalidCredentials(ClassroomAPIError):
    def __init__(self, status: int | None = 401):
        super().__init__("Google Classroom rejected the access token (it is invalid or has expired); "
                         "connect Google Classroom again.", status=status)


class ReconnectGoogle(InvalidCredentials):
    """Google refused the refresh token (revoked at myaccount.google.com, or expired)."""

    def __init__(self, status: int | None = 400):
        ClassroomAPIError.__init__(self, "Google no longer accepts Canvas Flow's access to your Classroom. "
                                   "Connect Google Classroom again; your synced data is kept.", status=status)


class PermissionDenied(ClassroomAPIError):
    pass


class NotFound(ClassroomAPIError):
    pass


class BadRequest(ClassroomAPIError):
    """Google refused the request (400); `detail` is Google's own words, for matching, never shown raw."""

    def __init__(self, message: str, *, status: int | None = 400, detail: str = ""):
        super().__init__(message, status=status)
        self.detail = detail


class BadResponse(ClassroomAPIError):
    pass


class QuotaExhausted(ClassroomAPIError):
    retriable = True

    def __init__(self, status: int | None = 429):
        super().__init__("Google kept saying the request quota is used up; we will try again later.", status=status)


class ClassroomUnavailable(ClassroomAPIError):
    retriable = True


class UsageNotYetAvailable(ClassroomAPIError):
    """Google has no usage data for that date yet (reports lag a few days): not an error, stop there."""

    def __init__(self, day: date, message: str):
        super().__init__(f"Google has no Classroom usage data for {day.isoformat()} yet ({message}).", status=400)
        self.day = day


def build_classroom_session(*, stats: RequestStats | None = None, total_retries: int = 5,
                            backoff_factor: float = 0.5) -> requests.Session:
    """The shared policy (pool, connection retries, the backoff the client uses for 429/5xx);
    the token goes on each client."""
    return build_session(stats=stats, total_retries=total_retries, backoff_factor=backoff_factor)


class ClassroomAPIService:
    def __init__(self, session: requests.Session, token: str, *, classroom_url: str = CLASSROOM_URL,
                 reports_url: str = REPORTS_URL, page_size: int = 100, timeout: float = 30.0,
                 connect_timeout: float = 5.0, deadline_s: float | None = None,
                 max_body_bytes: int | None = None, max_pages: int | None = None,
                 stats: RequestStats | None = None, token_source: SharedAccessToken | None = None):
        self.session = session
        # Connected through Google's consent: the access token is refreshed as Google does.
        self.token_source = token_source
        self.classroom_url = classroom_url.rstrip("/")
        self.reports_url = reports_url.rstrip("/")
        self.page_size = page_size
        self.max_pages = max_pages_setting(max_pages)
        # An HTTP header carries only visible ASCII; such a token could never be valid.
        self._token_sendable = token_source is not None or (
            bool(token) and token.isascii() and token.isprintable() and " " not in token)
        self._auth = {"Authorization": f"Bearer {token}"}
        self.http = HttpClient(session, CLASSROOM_ERRORS, [self.classroom_url, self.reports_url], stats=stats,
                               timeout=timeout, connect_timeout=connect_timeout, deadline_s=deadline_s,
                               max_body_bytes=max_body_bytes)
        self.stats = self.http.stats

    # -- Classroom -----------------------------------------------------------------

    def iter_courses(self, states: tuple[str, ...] | None = ("ACTIVE", "ARCHIVED")) -> Iterator[dict[str, Any]]:
        """courses.list, every page (``states`` None: every course state)."""
        params = {"courseStates": list(states)} if states else {}
        return self._items(f"{self.classroom_url}/v1/courses", params, "courses")

    def iter_course_work(self, course_id: str, *, states: tuple[str, ...] = ("PUBLISHED",),
                         order_by: str = "updateTime desc") -> Iterator[dict[str, Any]]:
        """courses.courseWork.list, newest change first by default; stop iterating to stop paging."""
        params = {"courseWorkStates": list(states), "orderBy": order_by}
        return self._items(f"{self.classroom_url}/v1/courses/{_seg(course_id)}/courseWork", params, "courseWork")

    def iter_student_submissions(self, course_id: str, course_work_id: str = "-", *,
                                 states: tuple[str, ...] | None = None,
                                 late: str | None = None) -> Iterator[dict[str, Any]]:
        """courses.courseWork.studentSubmissions.list; ``course_work_id`` "-" lists the whole course."""
        params: dict[str, Any] = {}
        if states:
            params["states"] = list(states)
        if late:
            params["late"] = late
        url = f"{self.classroom_url}/v1/courses/{_seg(course_id)}/courseWork/{_seg(course_work_id)}/studentSubmissions"
        return self._items(url, params, "studentSubmissions")

    # -- Admin Reports -------------------------------------------------------------

    def iter_usage_reports(self, day: date, parameters: tuple[str, ...] = USAGE_PARAMETERS,
                           user_key: str = "all") -> Iterator[dict[str, Any]]:
        """userUsageReport.get for one date: one report per user; raises UsageNotYetAvailable for a date too new."""
        url = f"{self.reports_url}/admin/reports/v1/usage/users/{_seg(user_key)}/dates/{day.isoformat()}"
        params = {"parameters": ",".join(parameters)} if parameters else {}
        try:
            yield from self._items(url, params, "usageReports", size_param="maxResults", page_size=1000)
        except BadRequest as exc:
            if NOT_YET_AVAILABLE in exc.detail:
                raise UsageNotYetAvailable(day, NOT_YET_AVAILABLE) from None
            raise

    # -- paging and requests -------------------------------------------------------

    def _items(self, url: str, params: dict, key: str, *, size_param: str = "pageSize",
               page_size: int | None = None) -> Iterator[dict[str, Any]]:
        params = {**params, size_param: page_size or self.page_size}
        paginator = PageTokenPaginator(max_pages=self.max_pages)
        while paginator.has_more:
            if paginator.token:
                params = {**params, "pageToken": paginator.token}
            page = self._get(url, params)
            items = page.get(key, [])
            if not isinstance(items, list):
                raise BadResponse(f"Google sent {type(items).__name__} where a list of {key} was expected.")
            yield from items
            try:
                paginator.advance(page)
            except PaginationError as exc:
                if exc.reason == "loop":
                    raise BadResponse(f"Google repeated a page token while listing {key}.") from None
                raise BadResponse(f"Google kept sending pages of {key} past {exc.pages}; stopped.") from None

    def _send_get(self, url: str, params: dict) -> requests.Response:
        if self.token_source is None:
            return self.http.request("GET", url, params=params, headers=self._auth)
        try:
            token = self.token_source.current()
            try:
                return self.http.request("GET", url, params=params, headers=_bearer(token))
            except InvalidCredentials:
                token = self.token_source.after_unauthorized(token)
                return self.http.request("GET", url, params=params, headers=_bearer(token))
        except OAuthRefused as exc:  # Google's token endpoint failed without refusing the grant
            raise ClassroomAPIError(str(exc), status=exc.status, retriable=exc.retriable) from None

    def _get(self, url: str, params: dict) -> dict:
        if not self._token_sendable:
            raise InvalidCredentials(status=None)
        response = self._send_get(url, params)
        try:
            body = response.json()
        except ValueError:
            raise BadResponse(f"Google sent an unreadable response for {url_path(url)}.") from None
        if not isinstance(body, dict):
            raise BadResponse(f"Google sent {type(body).__name__} where an object was expected ({url_path(url)}).")
        return body


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _error_for(response: requests.Response) -> ClassroomAPIError:
    status = response.status_code
    message, state = _google_error(response)
    where = url_path(response.url)
    if status == 401:
        return InvalidCredentials(status=status)
    if status == 429 or state == "RESOURCE_EXHAUSTED":
        return QuotaExhausted(status=status)
    if status == 403 and where.startswith("/admin/reports/"):
        return PermissionDenied("Google refused the Classroom usage report: it needs a Google Workspace "
                                "administrator's access (scope admin.reports.usage.readonly).", status=status)
    if status == 403:
        log.info("event=classroom_refused status=%d path=%s detail=%r", status, where, excerpt(message))
        return PermissionDenied(f"Google says this account may not read {where}.", status=status)
    if status == 404:
        return NotFound(f"Google Classroom has no {where} (it may have been deleted).", status=status)
    if status >= 500:
        return ClassroomUnavailable(f"Google had an internal error ({status}); try again later.", status=status)
    log.info("event=classroom_refused status=%d path=%s detail=%r", status, where, excerpt(message))
    return BadRequest(f"Google refused the request for {where} ({status}).", status=status, detail=message)


def _google_error(response: requests.Response) -> tuple[str, str]:
    """(message, status) from ``{"error": {"code", "message", "status", "errors": [...]}}``."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return excerpt(response.text), ""
    if not isinstance(error, dict):
        return excerpt(str(error or "")), ""
    return str(error.get("message", "")), str(error.get("status", ""))


def _seg(value: str) -> str:
    return quote(str(value), safe="-")


CLASSROOM_ERRORS = SystemErrors(
    name="Google", base=ClassroomAPIError, unavailable=ClassroomUnavailable,
    throttled=lambda status=None: QuotaExhausted(status=status), bad_response=BadResponse, error_for=_error_for,
)
