"""Google Classroom as a read-only connector: courses, courseWork and studentSubmissions as Changes.

Classroom has no "changed since" filter. courseWork is listed by ``updateTime desc``
and the listing stops at the first item not newer than the course's bookmark, so an
incremental pull usually costs one page per course. Submissions have no order at all:
they are listed for the whole course (``courseWorkId="-"``) and only those newer than
the course's submission bookmark are yielded.

Incremental state is a plain JSON-able dict the caller keeps between pulls
(``connector.state`` after a pull, handed back as ``state=`` next time)::

    {"courses": "<max course updateTime>",
     "course_work": {"<course id>": "<max courseWork updateTime>"},
     "submissions": {"<course id>": "<max submission updateTime>"}}

``pull(None)`` is a full pull: everything, with ``snapshot_complete`` markers, and a
fresh state. ``pull(since)`` is incremental: per course it uses that course's bookmark
from the state, or ``since`` for a course it has none for (a new course). A course's
bookmarks move only after its courseWork and submissions were read to the end, so a
failure part-way leaves the last good bookmarks.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from app.services.classroom_api_service import (ClassroomAPIError, ClassroomAPIService, ReconnectGoogle,
                                                build_classroom_session)
from app.services.oauth_client import PolicyOAuth2Session, SharedAccessToken
from app.sync.connectors.base import Change, Connector, registry
from app.sync.errors import PermanentError, TransientError

NAME = "classroom"
TURNED_IN_STATES = ("TURNED_IN", "RETURNED")


class ClassroomConnector(Connector):
    name = NAME
    writable = False

    def __init__(self, client: ClassroomAPIService, *, state: dict | None = None,
                 course_states: tuple[str, ...] = ("ACTIVE", "ARCHIVED"),
                 course_work_states: tuple[str, ...] = ("PUBLISHED",)):
        self.client = client
        self.state = _clean_state(state)
        self.course_states = tuple(course_states)
        self.course_work_states = tuple(course_work_states)

    def pull(self, since: datetime | None) -> Iterator[Change]:
        try:
            yield from self._pull(since)
        except ClassroomAPIError as exc:
            error = PermanentError if not exc.retriable else TransientError
            raise error(exc.message, context={"system": NAME, "status": exc.status}) from None

    # -- the pull ------------------------------------------------------------------

    def _pull(self, since: datetime | None) -> Iterator[Change]:
        full = since is None
        state = _clean_state(None if full else self.state)
        courses = list(self.client.iter_courses(self.course_states or None))
        course_mark = _bookmark(state["courses"], since)
        for course in courses:
            if full or _newer(course.get("updateTime"), course_mark):
                yield course_change(course)
        if full:
            yield _snapshot("", ["course"])
        newest = [_parse_time(c.get("updateTime")) for c in courses]
        state["courses"] = _iso(max([t for t in newest if t] + [_parse_time(state["courses"])], key=_sort_key))
        self.state = copy.deepcopy(state)

        for course in courses:
            cid = str(course["id"])
            work_mark = None if full else _bookmark(state["course_work"].get(cid), since)
            sub_mark = None if full else _bookmark(state["submissions"].get(cid), since)
            work_top = _parse_time(state["course_work"].get(cid))
            for work in self.client.iter_course_work(cid, states=self.course_work_states):
                updated = _parse_time(work.get("updateTime"))
                if work_mark is not None and not _newer(work.get("updateTime"), work_mark):
                    break  # ordered by updateTime desc: everything after this was seen before
                work_top = max(work_top, updated, key=_sort_key)
                yield assignment_change(work)
            sub_top = _parse_time(state["submissions"].get(cid))
            for sub in self.client.iter_student_submissions(cid, "-"):
                if sub_mark is not None and not _newer(sub.get("updateTime"), sub_mark):
                    continue
                sub_top = max(sub_top, _parse_time(sub.get("updateTime")), key=_sort_key)
                yield submission_change(sub)
            if full:
                yield _snapshot(cid, ["assignment", "submission"])
            if work_top is not None:
                state["course_work"][cid] = _iso(work_top)
            if sub_top is not None:
                state["submissions"][cid] = _iso(sub_top)
            self.state = copy.deepcopy(state)


# -- Google objects -> the neutral shape (CONTRACTS.md "Read-only sources") ------------

def course_change(course: dict) -> Change:
    return Change(origin=NAME, entity_type="course", external_id=str(course["id"]),
                  updated_at=_parse_time(course.get("updateTime")),
                  data={"name": course.get("name") or "", "course_code": course.get("section") or None,
                        "term_name": None,  # Classroom has no terms
                        "html_url": course.get("alternateLink"),
                        "workflow_state": str(course.get("courseState") or "active").lower(), "raw": course})


def assignment_change(work: dict) -> Change:
    updated = _parse_time(work.get("updateTime"))
    points = work.get("maxPoints")
    return Change(origin=NAME, entity_type="assignment", external_id=str(work["id"]),
                  parent_external_id=str(work["courseId"]), updated_at=updated,
                  data={"name": work.get("title") or "", "due_at": due_at(work),
                        "points_possible": float(points) if points is not None else None,
                        "html_url": work.get("alternateLink"), "published": work.get("state") == "PUBLISHED",
                        "updated_at": updated, "raw": work})


def submission_change(sub: dict) -> Change:
    state = sub.get("state")
    grade = sub.get("assignedGrade")
    score = float(grade) if grade is not None else None
    turned_in = state in TURNED_IN_STATES
    if score is not None:
        workflow = "graded"
    elif turned_in:
        workflow = "submitted"
    else:
        workflow = "unsubmitted"
    late = bool(sub.get("late"))
    return Change(origin=NAME, entity_type="submission", external_id=str(sub["id"]),
                  parent_external_id=str(sub["courseWorkId"]), updated_at=_parse_time(sub.get("updateTime")),
                  data={"course_external_id": str(sub["courseId"]), "student_external_id": str(sub.get("userId")),
                        "score": score, "grade": _format_grade(score),
                        "submitted_at": _last_state_time(sub, "TURNED_IN"),
                        "graded_at": _last_grade_time(sub) if score is not None else None,
                        "workflow_state": workflow, "late": late,
                        # Classroom has no "missing" flag; its "late" also covers work not handed in
                        # after the due time, which is what Classroom's UI calls Missing.
                        "missing": late and not turned_in, "raw": sub})


def due_at(work: dict) -> datetime | None:
    """dueDate + dueTime (both UTC; zero fields are left out of a TimeOfDay, so {} is midnight)."""
    day = work.get("dueDate")
    if not day or not all(k in day for k in ("year", "month", "day")):
        return None
    time_of_day = work.get("dueTime")
    if time_of_day is None:  # Google requires dueTime with dueDate; be lenient: the end of that day
        time_of_day = {"hours": 23, "minutes": 59, "seconds": 59}
    return datetime(int(day["year"]), int(day["month"]), int(day["day"]), int(time_of_day.get("hours", 0)),
                    int(time_of_day.get("minutes", 0)), int(time_of_day.get("seconds", 0)), tzinfo=timezone.utc)


def _last_state_time(sub: dict, state: str) -> datetime | None:
    times = [_parse_time(h["stateHistory"].get("stateTimestamp")) for h in sub.get("submissionHistory", [])
             if isinstance(h.get("stateHistory"), dict) and h["stateHistory"].get("state") == state]
    times = [t for t in times if t]
    return max(times) if times else None


def _last_grade_time(sub: dict) -> datetime | None:
    times = [_parse_time(h["gradeHistory"].get("gradeTimestamp")) for h in sub.get("submissionHistory", [])
             if isinstance(h.get("gradeHistory"), dict)]
    times = [t for t in times if t]
    return max(times) if times else _last_state_time(sub, "RETURNED")


def _format_grade(score: float | None) -> str | None:
    if score is None:
        return None
    return f"{score:g}"


def _snapshot(scope: str, entity_types: list[str]) -> Change:
    return Change(origin=NAME, entity_type="snapshot_complete", external_id=scope,
                  data={"entity_types": entity_types})


# -- times and state -------------------------------------------------------------------

def _parse_time(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    # Google may send nanoseconds; Python keeps microseconds.
    if "." in text:
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _sort_key(moment: datetime | None):
    return moment or datetime.min.replace(tzinfo=timezone.utc)


def _bookmark(saved: str | None, since: datetime | None) -> datetime | None:
    return _parse_time(saved) or _parse_time(since)


def _newer(value, mark: datetime | None) -> bool:
    if mark is None:
        return True
    moment = _parse_time(value)
    return moment is None or moment > mark


def _clean_state(state: dict | None) -> dict[str, Any]:
    state = state or {}
    return {"courses": state.get("courses"), "course_work": dict(state.get("course_work") or {}),
            "submissions": dict(state.get("submissions") or {})}


def create_classroom_connector(credentials: dict, session=None, settings: dict | None = None) -> ClassroomConnector:
    """The registry's factory: (user connection credentials, http session, settings)."""
    settings = settings or {}
    # A user's OAuth token, or a domain-wide service-account token the operator configured.
    token = credentials.get("access_token") or credentials.get("token") or settings.get("service_account_token") or ""
    client_kwargs = {k: settings[k] for k in ("classroom_url", "reports_url", "page_size", "timeout") if k in settings}
    provider = settings.get("oauth_provider")
    if provider is not None and credentials.get("refresh_token"):
        # Connected through Google's consent: refreshed before expiry and on a 401, one refresh at a time.
        client_kwargs["token_source"] = SharedAccessToken(
            PolicyOAuth2Session(provider), token, credentials["refresh_token"], credentials.get("expires_at"),
            reconnect_error=lambda exc: ReconnectGoogle(status=exc.status))
    client = ClassroomAPIService(session or build_classroom_session(), token, **client_kwargs)
    kwargs = {k: tuple(settings[k]) for k in ("course_states", "course_work_states") if k in settings}
    return ClassroomConnector(client, state=settings.get("state"), **kwargs)


registry.register(NAME, create_classroom_connector)
