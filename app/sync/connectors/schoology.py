"""SchoologyConnector: read-only full pulls of Schoology into the neutral Changes the sources
store writes into the course/assignment/submission tables (CONTRACTS.md, "Read-only sources").

Schoology has no date filters and no sort, so every pull reads everything in scope and
says so with `snapshot_complete` markers (the store marks rows missing from a complete
scope as deleted). Scope: the sections of every course (a Schoology *section* is our
"course": sections carry the assignments), of active grading periods only unless
`include_past` is on. Per section: enrollments (enrollment id -> student uid), grades
(scores live in sections/{id}/grades, keyed by enrollment), assignments, and for each
assignment with a dropbox its latest revision per student.

Each Change's data carries `content_hash` (SHA-256 of the canonical JSON of `raw`, its
`links` aside). Given `previous_hashes` ({"<entity_type>:<external_id>": hash}), unchanged
objects are not yielded; the scope's marker then lists them in `unchanged`
("<entity_type>:<external_id>") so the store does not take them for deleted.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from app.services.schoology_api_service import (
    DEFAULT_API_URL,
    Assignment,
    BadResponse,
    Enrollment,
    Forbidden,
    Grade,
    InvalidCredentials,
    NotFound,
    Revision,
    SchoologyAPIError,
    SchoologyAPIService,
    Section,
)
from app.sync.connectors.base import Change, Connector, registry
from app.sync.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

NAME = "schoology"
SNAPSHOT = "snapshot_complete"
DEFAULT_WEB_URL = "https://app.schoology.com"
PENDING_ENROLLMENT = ("3", "4")  # invite / request pending: not in the class yet
EXCUSED, INCOMPLETE, MISSING = 1, 2, 3


def content_hash(raw) -> str:
    """SHA-256 of the canonical JSON, `links` left out: they name the host (and Schoology's
    own samples switch between http and https), not the content."""
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != "links"}
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _score_text(score: float | None) -> str | None:
    if score is None:
        return None
    return str(int(score)) if float(score).is_integer() else f"{score:g}"


class SchoologyConnector(Connector):
    name = NAME
    writable = False

    def __init__(self, client: SchoologyAPIService, *, include_past: bool = False, timezone_name: str | None = None,
                 web_url: str = DEFAULT_WEB_URL, previous_hashes: Mapping[str, str] | None = None, now=None):
        self.client = client
        self.include_past = include_past
        self.timezone_name = timezone_name
        self.web_url = web_url.rstrip("/")
        self.previous_hashes = previous_hashes or {}
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.skipped_sections: list[tuple[str, str]] = []  # (section id, why): read-refused, last copy kept
        # Kept on the connection after a pull (app/sync/jobs/source_pull.py): whose key this is, so the
        # planner can tell the user's own submissions from their students' (a teacher's key sees all).
        self.state: dict = {}

    # -- the Connector interface -----------------------------------------------------------

    def pull(self, since: datetime | None = None) -> Iterator[Change]:
        """Everything in scope (`since` is ignored: Schoology offers nothing incremental)."""
        try:
            yield from self._pull()
        except (InvalidCredentials, Forbidden, NotFound, BadResponse) as exc:
            raise PermanentError(exc.message, context={"system": NAME, "status": exc.status}) from None
        except SchoologyAPIError as exc:
            cls = PermanentError if exc.status and 400 <= exc.status < 500 and exc.status != 429 else TransientError
            raise cls(exc.message, context={"system": NAME, "status": exc.status}) from None
        except requests.RequestException as exc:
            raise TransientError(f"Could not reach Schoology ({type(exc).__name__}).",
                                 context={"system": NAME}) from None

    # -- the pull --------------------------------------------------------------------------

    def _pull(self) -> Iterator[Change]:
        me = self.client.get_me()
        self.state["own_user_id"] = me.uid
        tz = self._zone(self.timezone_name or me.tz_name)
        periods = self._period_titles()
        sections: dict[str, Section] = {}
        for course in self.client.iter_courses():
            for section in self.client.iter_sections(course.id, include_past=self.include_past):
                sections.setdefault(section.id, section)
        unchanged: list[str] = []
        for section in sections.values():
            yield from self._emit(self._course_change(section, periods), unchanged)
        yield self._snapshot("", ["course"], unchanged)
        for section in sections.values():
            yield from self._section(section, tz)

    def _section(self, section: Section, tz: ZoneInfo) -> Iterator[Change]:
        sid = section.id
        try:
            students = [e for e in self.client.iter_enrollments(sid)
                        if not e.admin and e.status not in PENDING_ENROLLMENT]
            grades = {(g.assignment_id, g.enrollment_id): g for g in self.client.iter_grades(sid)}
            assignments = list(self.client.iter_assignments(sid))
        except (Forbidden, NotFound) as exc:
            self._skip(sid, exc)
            return
        unchanged: list[str] = []
        now = self._now()
        for assignment in assignments:
            due_at = self._utc(assignment.due_local, tz)
            yield from self._emit(self._assignment_change(assignment, due_at), unchanged)
            try:
                revisions = self._latest_revisions(sid, assignment) if assignment.allow_dropbox else {}
            except (Forbidden, NotFound) as exc:
                self._skip(sid, exc)
                return  # no marker: this scope was not read completely
            for enrollment in students:
                change = self._submission_change(section, assignment, due_at, enrollment,
                                                 revisions.get(enrollment.uid),
                                                 grades.get((assignment.id, enrollment.id)), now)
                yield from self._emit(change, unchanged)
        yield self._snapshot(sid, ["assignment", "submission"], unchanged)

    def _latest_revisions(self, sid: str, assignment: Assignment) -> dict[str, Revision]:
        latest: dict[str, Revision] = {}
        for rev in self.client.iter_revisions(sid, assignment.id):
            held = latest.get(rev.uid)
            if held is None or (rev.created or datetime.min.replace(tzinfo=timezone.utc)) > (
                    held.created or datetime.min.replace(tzinfo=timezone.utc)):
                latest[rev.uid] = rev
        return latest

    # -- changes ---------------------------------------------------------------------------

    def _course_change(self, section: Section, periods: dict[str, str]) -> Change:
        titles = [periods[p] for p in section.grading_period_ids if p in periods]
        name = f"{section.course_title}: {section.title}" if section.course_title and section.title else (
            section.course_title or section.title or f"Section {section.id}")
        return Change(NAME, "course", section.id, data={
            "name": name, "course_code": section.course_code, "term_name": ", ".join(titles) or None,
            "html_url": f"{self.web_url}/course/{section.id}",
            "workflow_state": "active" if section.active else "archived",
            "schoology_course_id": section.course_id, "raw": section.raw})

    def _assignment_change(self, a: Assignment, due_at: datetime | None) -> Change:
        return Change(NAME, "assignment", a.id, parent_external_id=a.section_id, data={
            "name": a.title, "due_at": due_at, "points_possible": a.max_points,
            "html_url": f"{self.web_url}/assignment/{a.id}", "published": a.published,
            "updated_at": None,  # Schoology assignments carry no modification time
            "raw": a.raw})

    def _submission_change(self, section: Section, a: Assignment, due_at: datetime | None, enrollment: Enrollment,
                           rev: Revision | None, grade: Grade | None, now: datetime) -> Change:
        submitted = rev is not None and not rev.draft
        exception = grade.exception if grade else 0
        score = grade.grade if grade and not exception else None
        graded = score is not None or exception in (EXCUSED, INCOMPLETE)
        missing = exception == MISSING or (
            not submitted and not graded and a.allow_dropbox and due_at is not None and due_at < now)
        graded_at = grade.timestamp if grade and (graded or exception) else None
        submitted_at = rev.created if submitted else None
        return Change(NAME, "submission", f"{a.id}-{enrollment.uid}", parent_external_id=a.id,
                      updated_at=graded_at or submitted_at, data={
                          "course_external_id": section.id, "student_external_id": enrollment.uid,
                          "score": score, "grade": _score_text(score), "submitted_at": submitted_at,
                          "graded_at": graded_at,
                          "workflow_state": "graded" if graded else "submitted" if submitted else "unsubmitted",
                          "late": bool(rev and rev.late), "missing": missing, "excused": exception == EXCUSED,
                          "raw": {"enrollment_id": enrollment.id, "revision": rev.raw if rev else None,
                                  "grade": grade.raw if grade else None}})

    def _emit(self, change: Change, unchanged: list[str]) -> Iterator[Change]:
        digest = content_hash(change.data["raw"])
        if self.previous_hashes.get(f"{change.entity_type}:{change.external_id}") == digest:
            unchanged.append(f"{change.entity_type}:{change.external_id}")
            return
        change.data["content_hash"] = digest
        yield change

    @staticmethod
    def _snapshot(scope: str, entity_types: list[str], unchanged: list[str]) -> Change:
        return Change(NAME, SNAPSHOT, scope, data={"entity_types": entity_types, "unchanged": list(unchanged)})

    # -- helpers ---------------------------------------------------------------------------

    def _period_titles(self) -> dict[str, str]:
        try:  # only school administrators may list grading periods; term names are a nicety
            return {p.id: p.title for p in self.client.iter_grading_periods()}
        except (Forbidden, NotFound):
            return {}

    def _skip(self, sid: str, exc: SchoologyAPIError) -> None:
        log.warning("schoology_section_skipped section=%s status=%s", sid, exc.status)
        self.skipped_sections.append((sid, exc.message))

    @staticmethod
    def _zone(name: str | None) -> ZoneInfo:
        try:
            return ZoneInfo(name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("schoology_unknown_timezone tz=%r; due dates read as UTC", name)
            return ZoneInfo("UTC")

    @staticmethod
    def _utc(local: datetime | None, tz: ZoneInfo) -> datetime | None:
        return local.replace(tzinfo=tz).astimezone(timezone.utc) if local else None


def create_schoology_connector(credentials: Mapping, session: requests.Session | None = None,
                               settings: Mapping | None = None) -> SchoologyConnector:
    """The registry's factory: credentials {"consumer_key", "consumer_secret"[, "api_url"]}; settings
    may hold include_past (or SCHOOLOGY_INCLUDE_PAST), api_url (SCHOOLOGY_API_URL), timezone,
    web_url, signature_method, page_size, previous_hashes."""
    settings = settings or {}
    api_url = (credentials.get("api_url") or settings.get("api_url") or settings.get("SCHOOLOGY_API_URL")
               or DEFAULT_API_URL)
    try:
        client = SchoologyAPIService(
            session if session is not None else SchoologyAPIService.build_session(),
            credentials.get("consumer_key") or "", credentials.get("consumer_secret") or "", api_url=api_url,
            signature_method=settings.get("signature_method", "HMAC-SHA1"),
            page_size=int(settings.get("page_size", 200)))
    except InvalidCredentials as exc:
        raise PermanentError(exc.message, context={"system": NAME}) from None
    return SchoologyConnector(
        client, include_past=_truthy(settings.get("include_past", settings.get("SCHOOLOGY_INCLUDE_PAST", False))),
        timezone_name=settings.get("timezone"), web_url=settings.get("web_url") or DEFAULT_WEB_URL,
        previous_hashes=settings.get("previous_hashes"))


registry.register(NAME, create_schoology_connector)
