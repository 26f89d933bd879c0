"""The feed itself: a user's deadlines from every connected system as an RFC 5545 calendar.

One VEVENT per assignment with a due date, in the user's live courses. Each event's UID
comes from the source system and that system's course and assignment ids, so a re-sync
(even one that recreates the rows) updates the event in calendar apps instead of adding
another. The body depends only on stored data, never on the clock, so an unchanged feed
hashes the same and polling clients get 304s (routes.py).

What the feed holds is deliberately little: the assignment's name, due time, course,
points and link, and whether the user's own work is in. No scores, no other people, no
tokens: a calendar app may keep all of it on someone else's servers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit

from icalendar import Alarm, Calendar, Event, vDuration
from sqlalchemy import and_, or_, select, true

from app.extensions import db
from app.models import Assignment, Course, PlannerMark, Submission, User
from app.models.types import utcnow
from app.web.filters import format_datetime, user_zone
from app.web.planner.queries import student_view_courses
from app.web.planner.states import own_state

PRODID = "-//Canvas Flow//Deadlines 1.0//EN"
CALENDAR_NAME = "Canvas Flow deadlines"
UID_DOMAIN = "canvasflow"
REFRESH = timedelta(hours=1)
LOOKBACK = timedelta(days=365)  # older deadlines drop out of the feed
MAX_EVENTS = 5000  # a bound on one response; the most recent deadlines are kept
DONE_MARK = "\u2713 "  # "✓ " before the name of work that is handed in
SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)
SYSTEM_LABELS = {"canvas": "Canvas", "classroom": "Google Classroom", "schoology": "Schoology"}


# --- Where a row came from: the one place that knows --------------------------------------

def source_system_column():
    """The column naming each row's system (migration 0007)."""
    return Assignment.source_system.label("source_system")


@dataclass(frozen=True)
class SourceRef:
    system: str
    course_id: str
    assignment_id: str


def source_ref(row) -> SourceRef:
    """The system and that system's own ids for one feed row (see source_system_column): a
    Classroom/Schoology row's ids are its external ids, a Canvas row's its Canvas ids."""
    return SourceRef(row.source_system or "canvas", row.course_external_id or str(row.canvas_course_id),
                     row.assignment_external_id or str(row.canvas_assignment_id))


def event_uid(ref: SourceRef) -> str:
    # Ids from other systems are opaque strings: keep the UID to safe characters.
    def part(text: str) -> str:
        return quote(text, safe="")

    return f"{part(ref.system)}-course-{part(ref.course_id)}-assignment-{part(ref.assignment_id)}@{UID_DOMAIN}"


# --- Reading the rows ---------------------------------------------------------------------

def feed_courses(user: User):
    """The courses whose deadlines the feed carries: the user's live ones, from every system.

    (When per-course sync choices land, helper "accounts", migration 0006, a course the
    user stopped syncing is left out here too.)
    """
    return and_(Course.user_id == user.id, Course.deleted_at.is_(None))


@dataclass
class Deadline:
    uid: str
    system: str
    name: str
    due_at: datetime
    modified_at: datetime
    course_name: str
    course_code: str | None
    points_possible: float | None
    html_url: str | None
    done_label: str | None = None  # "Submitted", "Graded", ... when the user's own work is in


def deadlines(user: User, now: datetime | None = None) -> list[Deadline]:
    """Every live, published assignment with a due date in the user's live courses."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Assignment.id, Assignment.course_id, Assignment.canvas_assignment_id, Assignment.name,
               Assignment.due_at, Assignment.points_possible, Assignment.html_url, Assignment.canvas_updated_at,
               Assignment.first_seen_at, Course.canvas_course_id, Course.name.label("course_name"),
               Course.course_code, source_system_column(),
               Assignment.external_id.label("assignment_external_id"),
               Course.external_id.label("course_external_id"))
        .join(Course, Course.id == Assignment.course_id)
        .where(feed_courses(user), Assignment.deleted_at.is_(None),
               or_(Assignment.published.is_(None), Assignment.published == true()),
               Assignment.due_at.is_not(None), Assignment.due_at >= now - LOOKBACK)
        .order_by(Assignment.due_at.desc(), Assignment.id.desc())
        .limit(MAX_EVENTS)
    ).all()
    own = _own_submissions(user, {row.course_id for row in rows}, {row.id for row in rows})
    marks = _marks(user, {row.id for row in rows})
    result = []
    for row in rows:
        ref = source_ref(row)
        sub = own.get(row.id)
        state = own_state(sub, row.due_at, now, row.points_possible) if sub is not None else None
        mark = marks.get(row.id)
        stamps = [t for t in (row.canvas_updated_at, sub and sub.submitted_at, sub and sub.graded_at,
                              mark and mark.updated_at) if t]
        done_label = _done_label(state) if state is not None and state.done else None
        if done_label is None and mark is not None and mark.done:
            done_label = "Marked done"
        result.append(Deadline(
            uid=event_uid(ref), system=ref.system, name=row.name, due_at=row.due_at,
            modified_at=max(stamps) if stamps else row.first_seen_at,
            course_name=row.course_name, course_code=row.course_code, points_possible=row.points_possible,
            html_url=row.html_url,
            done_label=done_label,
        ))
    result.sort(key=lambda d: (d.due_at, d.uid))
    return result


def _own_submissions(user: User, course_ids: set[int], assignment_ids: set[int]) -> dict[int, Submission]:
    """assignment id -> the user's own submission, in the courses where the user is a student.

    The same rule as the planner's (app/web/planner/queries.py): a teacher's courses show
    no marks, since no one submission there is the user's.
    """
    if not course_ids:
        return {}
    own_by_course = student_view_courses(user, Course.id.in_(course_ids))
    wanted = {uid for uid in own_by_course.values() if uid is not None}
    if not wanted:
        return {}
    own = {}
    for sub in db.session.scalars(
        select(Submission).where(Submission.course_id.in_(own_by_course), Submission.deleted_at.is_(None),
                                 Submission.canvas_user_id.in_(wanted))
    ):
        if sub.assignment_id in assignment_ids and own_by_course.get(sub.course_id) == sub.canvas_user_id:
            own[sub.assignment_id] = sub
    return own


def _marks(user: User, assignment_ids: set[int]) -> dict[int, PlannerMark]:
    """assignment id -> the user's own done mark (planner/done), for the feed's rows."""
    if not assignment_ids:
        return {}
    return {m.assignment_id: m for m in db.session.scalars(
        select(PlannerMark).where(PlannerMark.user_id == user.id)) if m.assignment_id in assignment_ids}


def _done_label(state) -> str:
    # Only handed-in states: "to do" and "overdue" depend on the clock, and the body must not.
    return {"graded": "Graded", "excused": "Excused", "late": "Submitted late"}.get(state.key, "Submitted")


# --- Writing the calendar -----------------------------------------------------------------

# C0 controls (CR and LF among them), DEL and C1: a bare CR breaks the lines calendar apps
# read, and a CR/LF inside a URI value cannot be written at all. Our own line breaks are
# added after the text is cleaned.
_CONTROL = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)])


def plain(text: str | None) -> str:
    """Text from another system without its control characters (a tab or line break becomes a space)."""
    if not text:
        return ""
    return text.translate({**_CONTROL, 0x09: " ", 0x0A: " ", 0x0D: " "}).strip()


def _web_link(url: str | None) -> str | None:
    url = (url or "").translate(_CONTROL).strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _points(value: float) -> str:
    return f"{value:g} point{'' if value == 1 else 's'}"


def sequence_of(modified_at: datetime) -> int:
    """RFC 5545 SEQUENCE: whole seconds from SEQUENCE_EPOCH to the event's last change, so it moves
    whenever the event does (a new due date, handed-in work, a done mark) without a stored counter
    (and stays inside a signed 32-bit integer until 2088)."""
    if modified_at.tzinfo is None:
        modified_at = modified_at.replace(tzinfo=timezone.utc)
    return max(0, int((modified_at - SEQUENCE_EPOCH).total_seconds()))


def build_event(item: Deadline, alarm_minutes: int | None = None, zone=None, twenty_four: bool = True) -> Event:
    event = Event()
    event.add("uid", item.uid)
    event.add("dtstamp", item.modified_at)
    event.add("last-modified", item.modified_at)
    event.add("sequence", sequence_of(item.modified_at))
    event.add("summary", f"{DONE_MARK if item.done_label else ''}{plain(item.name)}")
    # A deadline is a moment, not a meeting: start and end at the due time, like Canvas's own
    # feed, and transparent so it never marks the person busy.
    event.add("dtstart", item.due_at)
    event.add("dtend", item.due_at)
    event.add("transp", "TRANSPARENT")
    course_name, course_code = plain(item.course_name), plain(item.course_code)
    course = f"{course_name} ({course_code})" if course_code else course_name
    system = plain(SYSTEM_LABELS.get(item.system, item.system))
    due = format_datetime(item.due_at, "%a %d %b %Y, %H:%M", zone=zone or timezone.utc, twenty_four=twenty_four)
    due_zone = item.due_at.astimezone(zone or timezone.utc).tzname()
    lines = [f"Due: {due} {due_zone}", f"Course: {course}", f"From: {system}"]
    if item.points_possible is not None:
        lines.append(f"Worth: {_points(item.points_possible)}")
    if item.done_label:
        lines.append(f"Your work: {item.done_label}")
    link = _web_link(item.html_url)
    if link:
        lines.append(link)
        event.add("url", link)
    event.add("description", "\n".join(lines))
    categories = [course_name, system] + ([item.done_label] if item.done_label else [])
    event.add("categories", categories)
    if alarm_minutes and not item.done_label:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"Due soon: {plain(item.name)}")
        alarm.add("trigger", timedelta(minutes=-alarm_minutes))
        event.add_component(alarm)
    return event


def build_calendar(items: list[Deadline], alarm_minutes: int | None = None, zone=None,
                   twenty_four: bool = True) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", CALENDAR_NAME)  # RFC 7986
    cal.add("x-wr-calname", CALENDAR_NAME)  # what Google Calendar and Apple Calendar read
    # How often to poll (RFC 7986; X-PUBLISHED-TTL is Outlook's and Apple's older name for it).
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    for item in items:
        cal.add_component(build_event(item, alarm_minutes, zone, twenty_four))
    return cal.to_ical()


def feed_body(user: User, now: datetime | None = None) -> bytes:
    # Descriptions name the due time in the user's own zone and clock (no one is signed in here).
    return build_calendar(deadlines(user, now), user.feed_alarm_minutes, user_zone(user), user.clock_24h is not False)
