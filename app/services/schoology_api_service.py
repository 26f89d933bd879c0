"""SchoologyAPIService: typed, paged reads of Schoology's REST API v1 (two-legged OAuth 1.0a).

Signing is requests-oauthlib's `OAuth1` (consumer key and secret, no token, realm
"Schoology API", HMAC-SHA1 by default or PLAINTEXT), applied per request through the
shared client (app/services/http.py).

Schoology refuses a second use of a nonce ("Duplicate timestamp/nonce combination,
possible replay attack"), so nothing may resend a signed request as it was: the shared
client's status retries and redirects (users/me answers 303) each go back through
requests and are signed afresh, and a session whose transport replays anyway is
re-signed once when Schoology says so.

Paging: `start`/`limit`, following `links.next` as Schoology gives it, but only on the
configured API host and scheme (the docs' samples show `http://` links from an https API;
a PLAINTEXT signature carries the secret itself, so it must never go anywhere else).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_PLAINTEXT
from requests_oauthlib import OAuth1

from app.services.egress import EgressPolicy
from app.services.http import (
    ApiError,
    HttpClient,
    PauseThrottle,
    RequestStats,
    SystemErrors,
    build_session,
    url_path,
)
from app.services.pagination import NextLinkPaginator, PaginationError, max_pages_setting

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.schoology.com/v1"
REALM = "Schoology API"
MAX_LIMIT = 200  # believed to be Schoology's cap (unconfirmed); larger limits are clamped
DUPLICATE_NONCE = "Duplicate timestamp/nonce"


# -- errors: plain words, safe to show a user, never holding the secret -----------------------

class SchoologyAPIError(ApiError):
    system = "Schoology"
    kind = "other"


class InvalidCredentials(SchoologyAPIError):
    kind = "invalid_credentials"


class Forbidden(SchoologyAPIError):
    kind = "forbidden"


class NotFound(SchoologyAPIError):
    kind = "not_found"


class Throttled(SchoologyAPIError):
    kind = "throttled"
    retriable = True


class Unavailable(SchoologyAPIError):
    kind = "unreachable"
    retriable = True


class ReplayRefused(InvalidCredentials):
    """Schoology saw this signature before: a transport resent our request as it was."""


class BadResponse(SchoologyAPIError):
    kind = "bad_response"


# -- typed objects: the fields the planner uses, plus the object as Schoology sent it ---------

def _str_id(value: Any) -> str:
    return "" if value is None else str(value)


def _num(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _flag(value: Any) -> bool:
    return str(value).strip() in ("1", "true", "True")


def _epoch(value: Any) -> datetime | None:
    seconds = _num(value)
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds else None


def _local(value: Any) -> datetime | None:
    """Schoology's "YYYY-MM-DD HH:MM:SS" wall-clock time (naive: the school's time zone)."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class User:
    uid: str
    name: str
    tz_name: str | None
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict) -> User:
        return cls(_str_id(raw.get("uid") or raw.get("id")), raw.get("name_display") or "", raw.get("tz_name"), raw)


@dataclass(frozen=True)
class GradingPeriod:
    id: str
    title: str
    start: date | None
    end: date | None
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict) -> GradingPeriod:
        return cls(_str_id(raw.get("id")), raw.get("title") or "", _day(raw.get("start")), _day(raw.get("end")), raw)


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    course_code: str | None
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict) -> Course:
        return cls(_str_id(raw.get("id")), raw.get("title") or "", raw.get("course_code") or None, raw)


@dataclass(frozen=True)
class Section:
    id: str
    course_id: str
    course_title: str
    course_code: str | None
    title: str
    active: bool
    grading_period_ids: tuple[str, ...]
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict) -> Section:
        periods = tuple(_str_id(p) for p in (raw.get("grading_periods") or []) if p not in (None, ""))
        return cls(_str_id(raw.get("id")), _str_id(raw.get("course_id")), raw.get("course_title") or "",
                   raw.get("course_code") or None, raw.get("section_title") or raw.get("title") or "",
                   _flag(raw.get("active", 1)), periods, raw)


@dataclass(frozen=True)
class Enrollment:
    id: str
    uid: str
    admin: bool
    status: str
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict) -> Enrollment:
        return cls(_str_id(raw.get("id")), _str_id(raw.get("uid")), _flag(raw.get("admin")),
                   _str_id(raw.get("status")), raw)


@dataclass(frozen=True)
class Assignment:
    id: str
    section_id: str
    title: str
    due_local: datetime | None
    max_points: float | None
    published: bool
    allow_dropbox: bool
    grading_period_id: str | None
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict, section_id: str) -> Assignment:
        return cls(_str_id(raw.get("id")), section_id, raw.get("title") or "", _local(raw.get("due")),
                   _num(raw.get("max_points")), _flag(raw.get("published", 1)), _flag(raw.get("allow_dropbox", 1)),
                   _str_id(raw.get("grading_period")) or None, raw)


@dataclass(frozen=True)
class Revision:
    """A student's latest submission revision for one grade item (Schoology has no submission id)."""

    uid: str
    revision_id: str
    created: datetime | None
    late: bool
    draft: bool
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict) -> Revision:
        return cls(_str_id(raw.get("uid")), _str_id(raw.get("revision_id")), _epoch(raw.get("created")),
                   _flag(raw.get("late")), _flag(raw.get("draft")), raw)


@dataclass(frozen=True)
class Grade:
    """A gradebook entry, keyed by enrollment (not user) and assignment; exception 1 excused,
    2 incomplete, 3 missing (3 is seen in practice, the docs list 1 and 2)."""

    enrollment_id: str
    assignment_id: str
    grade: float | None
    exception: int
    timestamp: datetime | None
    raw: dict = field(repr=False)

    @classmethod
    def from_api(cls, raw: dict) -> Grade:
        try:
            exception = int(raw.get("exception") or 0)
        except (TypeError, ValueError):
            exception = 0
        return cls(_str_id(raw.get("enrollment_id")), _str_id(raw.get("assignment_id")), _num(raw.get("grade")),
                   exception, _epoch(raw.get("timestamp")), raw)


# -- the client ---------------------------------------------------------------------------------

class SchoologyAPIService:
    def __init__(
        self,
        session: requests.Session,
        consumer_key: str,
        consumer_secret: str,
        *,
        api_url: str = DEFAULT_API_URL,
        signature_method: str = "HMAC-SHA1",
        page_size: int = MAX_LIMIT,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_attempts: int = 6,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        max_request_s: float = 300.0,
        max_pages: int | None = None,
        stats: RequestStats | None = None,
        sleep=time.sleep,
    ):
        if not consumer_key or not consumer_secret:
            raise InvalidCredentials("Connect Schoology first: add the API consumer key and secret.")
        if signature_method not in (SIGNATURE_HMAC_SHA1, SIGNATURE_PLAINTEXT):
            raise ValueError("signature_method must be HMAC-SHA1 or PLAINTEXT")
        self.session = session
        self.api_url = api_url.rstrip("/")
        split = urlsplit(self.api_url)
        self._scheme, self._netloc = split.scheme, split.netloc.lower()
        self.page_size = max(1, min(MAX_LIMIT, int(page_size)))
        self.max_pages = max_pages_setting(max_pages)
        # Two-legged: no resource-owner token. Schoology accepts the token left out.
        auth = OAuth1(consumer_key, consumer_secret, signature_method=signature_method,
                      signature_type="AUTH_HEADER", realm=REALM)
        attempts = max(1, max_attempts)
        self.http = HttpClient(session, SCHOOLOGY_ERRORS, [self.api_url], stats=stats, timeout=timeout,
                               connect_timeout=connect_timeout, deadline_s=max_request_s,
                               max_retries=attempts - 1, max_throttle_waits=attempts - 1,
                               backoff_factor=backoff_factor, backoff_max=backoff_max, auth=auth,
                               throttle=PauseThrottle(sleep=sleep), sleep=sleep)
        self.stats = self.http.stats

    @staticmethod
    def build_session(stats: RequestStats | None = None, policy: EgressPolicy | None = None,
                      **kwargs) -> requests.Session:
        """A pooled session retrying connection errors only (status retries are the client's, re-signed)."""
        return build_session(stats=stats, policy=policy, **kwargs)

    # -- typed calls -------------------------------------------------------------------------

    def get_me(self) -> User:
        data = self._get(f"{self.api_url}/users/me")
        if not isinstance(data, dict) or not (data.get("uid") or data.get("id")):
            raise BadResponse("Schoology's users/me answer did not name a user.")
        return User.from_api(data)

    def iter_grading_periods(self) -> Iterator[GradingPeriod]:
        for row in self._iter("gradingperiods", "gradingperiods"):
            yield GradingPeriod.from_api(row)

    def iter_courses(self) -> Iterator[Course]:
        for row in self._iter("courses", "course"):
            yield Course.from_api(row)

    def iter_sections(self, course_id: str, *, include_past: bool = False) -> Iterator[Section]:
        params = {"include_past": 1} if include_past else {}
        for row in self._iter(f"courses/{course_id}/sections", "section", params):
            yield Section.from_api(row)

    def iter_enrollments(self, section_id: str) -> Iterator[Enrollment]:
        for row in self._iter(f"sections/{section_id}/enrollments", "enrollment"):
            yield Enrollment.from_api(row)

    def iter_assignments(self, section_id: str) -> Iterator[Assignment]:
        for row in self._iter(f"sections/{section_id}/assignments", "assignment"):
            yield Assignment.from_api(row, section_id)

    def iter_grades(self, section_id: str) -> Iterator[Grade]:
        """Every grade of a section (sections/{id}/grades carries the scores; revisions do not)."""
        for row in self._iter(f"sections/{section_id}/grades", "grades"):
            yield Grade.from_api(row)

    def iter_revisions(self, section_id: str, grade_item_id: str) -> Iterator[Revision]:
        for row in self._iter(f"sections/{section_id}/submissions/{grade_item_id}", "revision"):
            yield Revision.from_api(row)

    # -- paging --------------------------------------------------------------------------------

    def _iter(self, path: str, key: str, params: dict | None = None) -> Iterator[dict]:
        query: dict | None = {**(params or {}), "start": 0, "limit": self.page_size}
        paginator = NextLinkPaginator(f"{self.api_url}/{path}", check_link=self._same_origin,
                                      max_pages=self.max_pages)
        while paginator.has_more:
            data = self._get(paginator.next_url, query)
            rows = self._rows(data, key, path)
            yield from rows
            links = data.get("links")
            query = None
            try:
                paginator.advance(links.get("next") if isinstance(links, dict) else None, len(rows))
            except PaginationError as exc:
                if exc.reason == "loop":  # a next link pointing back at a page already read
                    raise BadResponse(f"Schoology's pages of {path} loop back on themselves.") from None
                raise BadResponse(f"Schoology returned more than {exc.pages} pages of {path}.") from None

    @staticmethod
    def _rows(data: Any, key: str, path: str) -> list[dict]:
        if not isinstance(data, dict):
            raise BadResponse(f"Schoology's answer for {path} was not a JSON object.")
        rows = data.get(key)
        if key == "grades" and isinstance(rows, dict):  # {"grades": {"grade": [...]}}
            rows = rows.get("grade")
        if rows is None:
            return []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadResponse(f"Schoology's answer for {path} had no list of {key}.")
        return rows

    def _same_origin(self, link: str, what: str) -> str:
        split = urlsplit(link)
        if split.netloc.lower() != self._netloc:
            raise BadResponse(f"Schoology's {what} points at another host; not following it.")
        return urlunsplit((self._scheme, self._netloc, split.path, split.query, ""))

    # -- one request: the shared client, signed afresh on every attempt -----------------------------

    def _get(self, url: str, params: dict | None = None) -> Any:
        try:
            resp = self.http.request("GET", url, params=params)
        except ReplayRefused:  # a transport-level replay of our last signature: sign again, once
            resp = self.http.request("GET", url, params=params)
        try:
            return resp.json()
        except ValueError:
            raise BadResponse(f"Schoology answered {url_path(url)} with something other than JSON.",
                              status=resp.status_code) from None


def _error_for(response: requests.Response) -> SchoologyAPIError:
    status, path = response.status_code, url_path(response.url)
    # The refusal text is oauth-php's; it holds the signature base string, so it is read, not echoed.
    if status == 401:
        text = response.text.lower()
        # A signature refusal quotes the base string, which names every oauth_ field: test it first.
        signature = "verification of signature failed" in text
        if not signature and DUPLICATE_NONCE.lower() in text:
            return ReplayRefused("Schoology refused a replayed request signature.", status=401)
        if not signature and "timestamp is out of sequence" in text:
            return InvalidCredentials("Schoology refused the request's timestamp: check this server's clock "
                                      "(it must be within a few minutes of the real time).", status=401)
        if not signature and ("does not exist or is not enabled" in text or "missing oauth_consumer_key" in text):
            return InvalidCredentials("Schoology does not know this consumer key: check the consumer key "
                                      "and secret.", status=401)
        return InvalidCredentials("Schoology refused the OAuth signature: check the consumer key and secret.",
                                  status=401)
    if status == 403:
        return Forbidden(f"This Schoology API key may not read {path} (403): ask a Schoology administrator "
                         "for access.", status=403)
    if status == 404:
        return NotFound(f"Schoology has no {path} (404).", status=404)
    if status == 429:
        return _throttled(status)
    if status >= 500:
        return Unavailable(f"Schoology kept failing ({status}); we will retry later.", status=status)
    return SchoologyAPIError(f"Schoology refused {path} ({status}).", status=status)


def _throttled(status: int | None = 429) -> Throttled:
    return Throttled("Schoology kept asking us to slow down (429); we will retry later.", status=429)


SCHOOLOGY_ERRORS = SystemErrors(
    name="Schoology", base=SchoologyAPIError, unavailable=Unavailable, throttled=_throttled,
    bad_response=BadResponse, error_for=_error_for,
)
