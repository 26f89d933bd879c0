"""The Google Classroom v1 and Admin Reports v1 routes the sandbox answers.

Behaviour follows Google's REST reference (developers.google.com/classroom/reference/rest
and admin-sdk/reports): lists page with ``pageSize``/``pageToken`` and leave
``nextPageToken`` out on the last page; a page token only fits the request that made it;
``courseWork`` is ordered by ``updateTime desc`` unless ``orderBy`` says otherwise and
lists only PUBLISHED work unless ``courseWorkStates`` asks for more; ``courseWorkId`` "-"
lists the submissions of every courseWork; a usage date whose data is not ready yet
answers 400 "Data for dates later than ... is not yet available".
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import date
from urllib.parse import parse_qs

from .data import COURSE_STATES, COURSE_WORK_STATES, CUSTOMER_ID, SUBMISSION_STATES, USAGE_PARAMETERS, \
    ClassroomData, due_at

DEFAULT_PAGE_SIZE = 20      # Google: "zero or unspecified: the server may assign a maximum"
MAX_PAGE_SIZE = 1000
REPORTS_MAX_RESULTS = 1000  # Reports: maxResults default and maximum 1000


class GoogleError(Exception):
    """An error response in Google's JSON shape."""

    def __init__(self, code: int, message: str, status: str, reason: str | None = None, headers=None):
        super().__init__(message)
        self.code, self.message, self.status, self.reason = code, message, status, reason
        self.headers = headers or []

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason:
            error["errors"] = [{"message": self.message, "domain": "global", "reason": self.reason}]
        return {"error": error}


def invalid_argument(message: str = "Request contains an invalid argument.", reason: str | None = None) -> GoogleError:
    return GoogleError(400, message, "INVALID_ARGUMENT", reason)


def not_found() -> GoogleError:
    return GoogleError(404, "Requested entity was not found.", "NOT_FOUND")


class Query:
    def __init__(self, raw: str):
        self.raw = raw
        self.values = parse_qs(raw, keep_blank_values=True)

    def get(self, name: str) -> str | None:
        values = self.values.get(name)
        return values[0] if values else None

    def getlist(self, name: str) -> list[str]:
        # REST clients send repeated fields either as name=a&name=b or name[]=a
        return self.values.get(name, []) + self.values.get(f"{name}[]", [])

    def fingerprint(self, path: str) -> str:
        """What a page token is bound to: the path and every argument but the paging ones."""
        items = sorted((k, v) for k, vs in self.values.items() if k not in ("pageToken", "pageSize", "maxResults",
                                                                             "access_token") for v in vs)
        return hashlib.sha256(json.dumps([path, items]).encode()).hexdigest()[:16]


def _page(items: list, query: Query, path: str, key: str, size_param: str = "pageSize",
          default_size: int = DEFAULT_PAGE_SIZE, max_size: int = MAX_PAGE_SIZE) -> dict:
    raw_size = query.get(size_param)
    try:
        size = int(raw_size) if raw_size not in (None, "") else 0
    except ValueError:
        raise invalid_argument(f"Invalid value at '{size_param}' (TYPE_INT32), \"{raw_size}\"") from None
    if size < 0:
        raise invalid_argument()
    size = min(size or default_size, max_size)
    offset = 0
    token = query.get("pageToken")
    fingerprint = query.fingerprint(path)
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            offset, bound = int(decoded["o"]), decoded["q"]
        except (ValueError, KeyError, TypeError):
            raise invalid_argument() from None
        if bound != fingerprint or offset < 0:
            raise invalid_argument()
    out = {key: items[offset:offset + size]} if items[offset:offset + size] else {}
    if offset + size < len(items):
        out["nextPageToken"] = base64.urlsafe_b64encode(
            json.dumps({"o": offset + size, "q": fingerprint}).encode()).decode().rstrip("=")
    return out


def _states(query: Query, name: str, allowed: tuple[str, ...]) -> list[str]:
    states = query.getlist(name)
    for state in states:
        if state not in allowed:
            raise invalid_argument(f"Invalid value at '{name}' (TYPE_ENUM), \"{state}\"")
    return states


ORDER_FIELDS = ("updateTime", "dueDate")


def _sort_course_work(items: list[dict], order_by: str | None) -> list[dict]:
    spec = []
    for part in (order_by or "updateTime desc").split(","):
        words = part.split()
        if not words or words[0] not in ORDER_FIELDS or len(words) > 2 or (
                len(words) == 2 and words[1] not in ("asc", "desc")):
            raise invalid_argument(f"Invalid orderBy: {order_by!r}")
        spec.append((words[0], len(words) == 2 and words[1] == "desc"))
    out = list(items)
    # Stable sorts from the last key to the first give a multi-key order.
    for field, descending in reversed(spec):
        if field == "updateTime":
            out.sort(key=lambda w: w["updateTime"], reverse=descending)
        else:
            with_due = [w for w in out if due_at(w) is not None]
            without = [w for w in out if due_at(w) is None]
            with_due.sort(key=due_at, reverse=descending)
            out = with_due + without  # work without a due date comes last either way
    return out


class ClassroomApi:
    COURSES = re.compile(r"^/v1/courses$")
    COURSE = re.compile(r"^/v1/courses/(?P<course>[^/]+)$")
    COURSE_WORK = re.compile(r"^/v1/courses/(?P<course>[^/]+)/courseWork$")
    SUBMISSIONS = re.compile(r"^/v1/courses/(?P<course>[^/]+)/courseWork/(?P<work>[^/]+)/studentSubmissions$")
    USAGE = re.compile(r"^/admin/reports/v1/usage/users/(?P<user>[^/]+)/dates/(?P<date>[^/]+)$")

    def __init__(self, data: ClassroomData):
        self.data = data

    def handle(self, method: str, path: str, query: Query) -> dict:
        if method != "GET":
            raise GoogleError(405, "Method not allowed.", "INVALID_ARGUMENT")
        with self.data.lock:
            for pattern, handler in ((self.COURSES, self.courses), (self.COURSE, self.course),
                                     (self.COURSE_WORK, self.course_work), (self.SUBMISSIONS, self.submissions),
                                     (self.USAGE, self.usage)):
                match = pattern.match(path)
                if match:
                    return handler(path, query, **match.groupdict())
        raise not_found()

    def _course(self, course_id: str) -> dict:
        course = self.data.courses.get(course_id)
        if course is None:
            raise not_found()
        return course

    def courses(self, path: str, query: Query) -> dict:
        states = _states(query, "courseStates", COURSE_STATES)
        items = [c for c in self.data.courses.values() if not states or c["courseState"] in states]
        return _page(items, query, path, "courses")

    def course(self, path: str, query: Query, course: str) -> dict:
        return self._course(course)

    def course_work(self, path: str, query: Query, course: str) -> dict:
        self._course(course)
        states = _states(query, "courseWorkStates", COURSE_WORK_STATES) or ["PUBLISHED"]
        items = [w for w in self.data.course_work[course].values() if w["state"] in states]
        return _page(_sort_course_work(items, query.get("orderBy")), query, path, "courseWork")

    def submissions(self, path: str, query: Query, course: str, work: str) -> dict:
        self._course(course)
        if work != "-" and work not in self.data.course_work[course]:
            raise not_found()
        states = _states(query, "states", SUBMISSION_STATES)
        late = query.get("late")
        if late not in (None, "", "LATE_VALUES_UNSPECIFIED", "LATE_ONLY", "NOT_LATE_ONLY"):
            raise invalid_argument(f"Invalid value at 'late' (TYPE_ENUM), \"{late}\"")
        user = query.get("userId")
        published = {wid for wid, w in self.data.course_work[course].items() if w["state"] == "PUBLISHED"}
        items = []
        for sub in self.data.submissions[course].values():
            if (work == "-" and sub["courseWorkId"] not in published) or (work != "-" and sub["courseWorkId"] != work):
                continue
            if states and sub["state"] not in states:
                continue
            if late == "LATE_ONLY" and not sub.get("late") or late == "NOT_LATE_ONLY" and sub.get("late"):
                continue
            if user and user != "me" and sub["userId"] != user:
                continue
            items.append(sub)
        return _page(items, query, path, "studentSubmissions")

    def usage(self, path: str, query: Query, user: str, date: str) -> dict:
        try:
            day = _parse_date(date)
        except ValueError:
            raise invalid_argument(f"Invalid value '{date}'. Values must match the following regular expression: "
                                   "'(\\d){4}-(\\d){2}-(\\d){2}'", reason="invalid") from None
        if day > self.data.usage_available_through:
            raise invalid_argument(f"Data for dates later than {self.data.usage_available_through.isoformat()} "
                                   "is not yet available. Please check back later", reason="invalid")
        if day < self.data.usage_first_date:
            raise invalid_argument(f"Data for dates earlier than {self.data.usage_first_date.isoformat()} "
                                   "is not available.", reason="invalid")
        names = [n for n in (query.get("parameters") or "").split(",") if n]
        unknown = [n for n in names if n not in USAGE_PARAMETERS]
        if unknown:
            raise invalid_argument(f"Invalid parameters: {','.join(unknown)}", reason="invalidParameter")
        wanted = names or list(USAGE_PARAMETERS)
        rows = self.data.usage_reports(day)
        if user != "all":
            rows = [r for r in rows if user in (r["email"], r["profile_id"])]
            if not rows:
                raise GoogleError(404, "User not found", "NOT_FOUND", reason="notFound")
        reports = [_usage_report(day, row, wanted) for row in rows]
        page = _page(reports, query, path, "usageReports", size_param="maxResults",
                     default_size=REPORTS_MAX_RESULTS, max_size=REPORTS_MAX_RESULTS)
        return {"kind": "admin#reports#usageReports", "etag": f'"{hashlib.sha1(path.encode()).hexdigest()}"',
                **page}


def _parse_date(value: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(value)
    return date.fromisoformat(value)


def _usage_report(day: date, row: dict, wanted: list[str]) -> dict:
    params = []
    for name in wanted:
        value = row["values"].get(name)
        if value is None:
            continue
        if isinstance(value, bool):
            params.append({"name": name, "boolValue": value})
        elif isinstance(value, int):
            params.append({"name": name, "intValue": str(value)})  # int64 travels as a JSON string
        elif name.endswith("_time"):
            params.append({"name": name, "datetimeValue": value})
        else:
            params.append({"name": name, "stringValue": str(value)})
    return {"kind": "admin#reports#usageReport", "date": day.isoformat(),
            "etag": f'"{hashlib.sha1((day.isoformat() + row["email"]).encode()).hexdigest()}"',
            "entity": {"customerId": CUSTOMER_ID, "userEmail": row["email"], "profileId": row["profile_id"],
                       "type": "USER"},
            "parameters": params}

