"""A read-only source's Changes (Google Classroom, Schoology) into the tables the Canvas sync fills.

A connector's `pull(since)` yields Changes in the neutral shape of the read-only source
contract (app/sync/connectors/base.py): a course, then its assignments, then
their submissions, and after a complete pull of a scope a `snapshot_complete` marker.
`SourceStore.store(changes)` writes them as they come:

* one transaction per course: the Changes of one course (a run of Changes naming the
  same course) are bulk-upserted through app/services/stream_writer.py and committed
  together, so a failure rolls back that course alone and leaves its last good copy;
* rows whose content hash is unchanged are not rewritten; a deleted row that
  reappears is revived by its upsert;
* a `snapshot_complete` marker of a course marks that course's assignments and/or
  submissions not seen in this pull as deleted; the marker of the course list
  (external_id "") does the same for the user's courses of this source. An
  incremental pull yields no marker, so it never deletes.

Ids: the source's own id is kept in `external_id`; the canvas_*_id columns hold
`derived_id(system, id)` (see app/models/canvas.py), so the Canvas keys apply as they are.

    result = SourceStore(db.session, user_id, "schoology").store(connector.pull(None))
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Assignment, Course, Submission, Term, raw_codec
from app.models.canvas import CANVAS, SOURCE_SYSTEMS, derived_id
from app.models.types import utcnow
from app.services.canvas_streams import Stream, parse_time, raw_and_hash
from app.services.stream_writer import IN_CHUNK, EntityCounts, mark_deleted, write_stream
from app.sync.connectors.base import Change
from app.sync.errors import TransientError

log = logging.getLogger(__name__)

ENTITIES = ("terms", "courses", "assignments", "submissions")
COURSE_LIST = ""  # the scope of the course list's snapshot_complete marker
SNAPSHOT_COMPLETE = "snapshot_complete"
# Rows written per statement inside one course (as stream_writer.WRITE_BATCH).
WRITE_BATCH = 1000
# Bounds on one pull: a connector that never ends is stopped, what it sent so far is kept.
MAX_CHANGES = 2_000_000
TIME_BUDGET_S = 3600.0


def _text(value, limit: int) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


def _time(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return parse_time(str(value))


def _float(value) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _bookkeeping(data: dict, now: datetime) -> dict:
    """Stored raw JSON (the object as the API sent it) and a hash of everything the row is made from."""
    raw, _ = raw_and_hash(data.get("raw") or {})
    _, digest = raw_and_hash(data)
    return {"raw_deflate": raw_codec.pack(raw), "content_hash": digest, "first_seen_at": now,
            "last_synced_canvas": now, "deleted_at": None}


@dataclass(frozen=True)
class SourceStreams:
    """The stream definitions (model, parent, key) for one source's rows."""

    system: str
    terms: Stream
    courses: Stream
    assignments: Stream
    submissions: Stream

    @classmethod
    def of(cls, system: str) -> SourceStreams:
        return cls(
            system,
            Stream("terms", Term, "user_id", "canvas_term_id", term_row, source_system=system),
            Stream("courses", Course, "user_id", "canvas_course_id", course_row, source_system=system),
            # Under a course, which has one source: no source filter needed.
            Stream("assignments", Assignment, "course_id", "canvas_assignment_id", assignment_row),
            Stream("submissions", Submission, "course_id", "canvas_submission_id", submission_row),
        )


def term_row(name: str, *, system: str, user_id: int, now: datetime) -> dict:
    return {"user_id": user_id, "source_system": system, "canvas_term_id": derived_id(system, f"term:{name}"),
            "external_id": None, "name": name, "start_at": None, "end_at": None,
            **_bookkeeping({"name": name}, now)}


def course_row(change: Change, *, system: str, user_id: int, term_id: int | None, now: datetime) -> dict:
    data = change.data
    return {"user_id": user_id, "source_system": system, "canvas_course_id": derived_id(system, change.external_id),
            "external_id": change.external_id[:255], "term_id": term_id,
            "name": _text(data.get("name"), 255) or f"Course {change.external_id}"[:255],
            "course_code": _text(data.get("course_code"), 255), "workflow_state": _text(data.get("workflow_state"), 32),
            "apply_assignment_group_weights": False, **_bookkeeping(data, now)}


def assignment_row(change: Change, *, system: str, course_id: int, course_external_id: str, now: datetime) -> dict:
    data = change.data
    return {"course_id": course_id, "source_system": system,
            "canvas_assignment_id": derived_id(system, change.external_id), "external_id": change.external_id[:255],
            "canvas_course_id": derived_id(system, course_external_id), "canvas_group_id": None,
            "grade_category_id": None,
            "name": _text(data.get("name"), 500) or f"Assignment {change.external_id}"[:500],
            "due_at": _time(data.get("due_at")), "points_possible": _float(data.get("points_possible")),
            "submission_types": None, "html_url": _text(data.get("html_url"), 1000),
            "published": bool(data.get("published", True)),
            "canvas_updated_at": _time(data.get("updated_at") or change.updated_at), **_bookkeeping(data, now)}


def submission_row(change: Change, *, system: str, course_id: int, assignment_id: int, now: datetime) -> dict:
    data = change.data
    student = data.get("student_external_id")
    grade = data.get("grade")
    return {"course_id": course_id, "source_system": system, "assignment_id": assignment_id,
            "canvas_submission_id": derived_id(system, change.external_id), "external_id": change.external_id[:255],
            "canvas_assignment_id": derived_id(system, change.parent_external_id or ""),
            "canvas_user_id": derived_id(system, str(student)) if student not in (None, "") else 0,
            "score": _float(data.get("score")), "grade": None if grade is None else str(grade)[:64],
            "submitted_at": _time(data.get("submitted_at")), "graded_at": _time(data.get("graded_at")),
            "workflow_state": _text(data.get("workflow_state"), 32), "late": bool(data.get("late")),
            "missing": bool(data.get("missing")), "excused": bool(data.get("excused")),
            **_bookkeeping(data, now)}


@dataclass
class StoreResult:
    system: str
    counts: dict[str, EntityCounts] = field(default_factory=lambda: {e: EntityCounts() for e in ENTITIES})
    changes: int = 0
    courses_committed: int = 0
    # Changes that could not be placed: an assignment of a course never seen, an unknown type...
    skipped: int = 0

    def as_dict(self) -> dict:
        return {**{e: c.as_dict() for e, c in self.counts.items()}, "changes": self.changes,
                "courses_committed": self.courses_committed, "skipped": self.skipped}

    def summary(self) -> str:
        """Plain words for the Settings page: what the pull found and changed."""
        parts = []
        for entity in ("courses", "assignments", "submissions"):
            c = self.counts[entity]
            live = c.created + c.updated + c.unchanged
            extra = [f"{n} {word}" for n, word in ((c.created, "new"), (c.updated, "changed"), (c.deleted, "removed"))
                     if n]
            parts.append(f"{live} {entity}" + (f" ({', '.join(extra)})" if extra else ""))
        return ", ".join(parts)


@dataclass
class _Batch:
    """The Changes of one course waiting to be written, in write order."""

    course_key: str
    course: Change | None = None
    assignments: dict[str, Change] = field(default_factory=dict)  # by external id: a repeat replaces
    submissions: dict[str, Change] = field(default_factory=dict)
    deletes: list[Change] = field(default_factory=list)
    markers: list[Change] = field(default_factory=list)
    local_course_id: int | None = None
    unknown_course: bool = False
    assignment_ids: dict[int, int] = field(default_factory=dict)  # derived id -> local id

    @property
    def pending(self) -> int:
        return len(self.assignments) + len(self.submissions)


class SourceStore:
    """Stores one pull of one user's source into the database (see the module docstring)."""

    def __init__(self, session: Session, user_id: int, system: str, *, now: datetime | None = None,
                 max_changes: int = MAX_CHANGES, time_budget_s: float = TIME_BUDGET_S, clock=time.monotonic):
        if system not in SOURCE_SYSTEMS or system == CANVAS:
            raise ValueError(f"{system!r} is not a read-only source (the Canvas sync writes Canvas rows)")
        self.session = session
        self.user_id = user_id
        self.system = system
        self.streams = SourceStreams.of(system)
        self.now = now or utcnow()
        self.max_changes = max_changes
        self.time_budget_s = time_budget_s
        self.clock = clock
        self.result = StoreResult(system)
        self._batch: _Batch | None = None
        self._terms: dict[str, int] = {}
        self._seen_courses: set[int] = set()
        # Per course (external id): derived ids of the assignments and submissions this pull
        # sent, until the course's snapshot_complete marker uses them.
        self._seen: dict[str, dict[str, set[int]]] = {}

    # -- public API ------------------------------------------------------------------

    def store(self, changes: Iterable[Change]) -> StoreResult:
        """Write every Change; returns the counts. On an error the course being written rolls back."""
        deadline = self.clock() + self.time_budget_s
        try:
            for change in changes:
                self.result.changes += 1
                if self.result.changes > self.max_changes or self.clock() > deadline:
                    raise TransientError(
                        f"The pull was stopped after {self.result.changes - 1} changes "
                        f"({'too many' if self.result.changes > self.max_changes else 'it took too long'}); "
                        "what arrived so far is saved and the next pull continues.")
                self._take(change)
            self._finish_batch()
        except BaseException:
            self.session.rollback()
            self._batch = None
            raise
        return self.result

    # -- routing -----------------------------------------------------------------------

    def _take(self, change: Change) -> None:
        if change.origin != self.system:
            log.warning("event=source_change_skipped system=%s origin=%s", self.system, change.origin)
            self.result.skipped += 1
            return
        kind = change.entity_type
        if kind == SNAPSHOT_COMPLETE and (change.external_id or "") == COURSE_LIST:
            self._finish_batch()
            self._courses_complete(change)
            self.session.commit()
            return
        if kind in (SNAPSHOT_COMPLETE, "course"):
            key = change.external_id
        elif kind == "assignment":
            key = change.parent_external_id
        elif kind == "submission":
            key = (change.data or {}).get("course_external_id")
        else:
            key = None
        if not key:
            log.warning("event=source_change_skipped system=%s entity_type=%s reason=no_course", self.system, kind)
            self.result.skipped += 1
            return
        key = str(key)
        if self._batch is None or self._batch.course_key != key:
            self._finish_batch()
            self._batch = _Batch(key)
        batch = self._batch
        if kind == SNAPSHOT_COMPLETE:
            batch.markers.append(change)
        elif change.action == Change.DELETE:
            batch.deletes.append(change)
        elif kind == "course":
            batch.course = change
        elif kind == "assignment":
            batch.assignments[change.external_id] = change
        else:
            batch.submissions[change.external_id] = change
        if batch.pending >= WRITE_BATCH:
            self._write_pending(batch)

    def _finish_batch(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            return
        self._write_pending(batch)
        if batch.local_course_id is not None:
            self._apply_deletes(batch)
            for marker in batch.markers:
                self._course_complete(batch, marker)
            self.result.courses_committed += 1
        elif batch.deletes or batch.markers:
            self.result.skipped += len(batch.deletes) + len(batch.markers)
        self.session.commit()

    # -- writing one course ----------------------------------------------------------------

    def _write_pending(self, batch: _Batch) -> None:
        s, now, counts = self.streams, self.now, self.result.counts
        if batch.course is not None:
            change, batch.course = batch.course, None
            row = course_row(change, system=self.system, user_id=self.user_id,
                             term_id=self._term_id(change.data.get("term_name")), now=now)
            c, ids = write_stream(self.session, s.courses, self.user_id, [row], now=now, complete=False)
            counts["courses"].add(c)
            batch.local_course_id = ids[row["canvas_course_id"]]
            self._seen_courses.add(row["canvas_course_id"])
        if batch.local_course_id is None and not batch.unknown_course:
            batch.local_course_id = self.session.scalar(
                select(Course.id).where(*s.courses.scope(self.user_id),
                                        Course.canvas_course_id == derived_id(self.system, batch.course_key)))
            batch.unknown_course = batch.local_course_id is None
        if batch.local_course_id is None:
            if batch.pending:
                log.warning("event=source_changes_skipped system=%s course=%s reason=unknown_course count=%d",
                            self.system, batch.course_key, batch.pending)
            self.result.skipped += batch.pending
            batch.assignments.clear()
            batch.submissions.clear()
            return
        course_id = batch.local_course_id
        seen = self._seen.setdefault(batch.course_key, {"assignment": set(), "submission": set()})
        if batch.assignments:
            rows = [assignment_row(c, system=self.system, course_id=course_id, course_external_id=batch.course_key,
                                   now=now) for c in batch.assignments.values()]
            batch.assignments.clear()
            c, ids = write_stream(self.session, s.assignments, course_id, rows, now=now, complete=False)
            counts["assignments"].add(c)
            batch.assignment_ids.update(ids)
            seen["assignment"].update(row["canvas_assignment_id"] for row in rows)
        if batch.submissions:
            changes = list(batch.submissions.values())
            batch.submissions.clear()
            self._resolve_assignments(batch, {derived_id(self.system, c.parent_external_id or "") for c in changes})
            rows = []
            for change in changes:
                assignment_id = batch.assignment_ids.get(derived_id(self.system, change.parent_external_id or ""))
                if assignment_id is None:  # a submission of an assignment we never got
                    self.result.skipped += 1
                    continue
                rows.append(submission_row(change, system=self.system, course_id=course_id,
                                           assignment_id=assignment_id, now=now))
            c, _ = write_stream(self.session, s.submissions, course_id, rows, now=now, complete=False)
            counts["submissions"].add(c)
            seen["submission"].update(row["canvas_submission_id"] for row in rows)

    def _resolve_assignments(self, batch: _Batch, wanted: set[int]) -> None:
        """Local ids of assignments stored earlier (an incremental pull may send only submissions)."""
        missing = sorted(wanted - batch.assignment_ids.keys())
        for start in range(0, len(missing), IN_CHUNK):
            batch.assignment_ids.update(self.session.execute(
                select(Assignment.canvas_assignment_id, Assignment.id).where(
                    Assignment.course_id == batch.local_course_id,
                    Assignment.canvas_assignment_id.in_(missing[start:start + IN_CHUNK]))).tuples().all())

    def _term_id(self, name) -> int | None:
        name = _text(name.strip() if isinstance(name, str) else name, 255)
        if not name:
            return None
        if name not in self._terms:
            row = term_row(name, system=self.system, user_id=self.user_id, now=self.now)
            c, ids = write_stream(self.session, self.streams.terms, self.user_id, [row], now=self.now, complete=False)
            self.result.counts["terms"].add(c)
            self._terms[name] = ids[row["canvas_term_id"]]
        return self._terms[name]

    # -- deletions ---------------------------------------------------------------------------

    def _apply_deletes(self, batch: _Batch) -> None:
        s, counts, course_id = self.streams, self.result.counts, batch.local_course_id
        for change in batch.deletes:
            own_id = derived_id(self.system, change.external_id)
            if change.entity_type == "course":
                counts["courses"].deleted += self._mark_live(s.courses, self.user_id, [own_id])
            elif change.entity_type == "assignment":
                counts["assignments"].deleted += self._mark_live(s.assignments, course_id, [own_id])
                counts["submissions"].deleted += self._delete_submissions_of(course_id, [own_id])
            elif change.entity_type == "submission":
                counts["submissions"].deleted += self._mark_live(s.submissions, course_id, [own_id])
            else:
                self.result.skipped += 1

    def _course_complete(self, batch: _Batch, marker: Change) -> None:
        """The connector sent every assignment/submission of this course: the rest are gone."""
        types = set((marker.data or {}).get("entity_types") or ())
        seen = self._seen.pop(batch.course_key, {"assignment": set(), "submission": set()})
        for entity_type, ids in self._unchanged(marker).items():
            seen.setdefault(entity_type, set()).update(ids)
        s, counts, course_id = self.streams, self.result.counts, batch.local_course_id
        if "assignment" in types:
            gone = self._missing(s.assignments, course_id, seen["assignment"])
            counts["assignments"].deleted += mark_deleted(self.session, s.assignments, course_id, gone, now=self.now)
            counts["submissions"].deleted += self._delete_submissions_of(course_id, gone)
        if "submission" in types:
            gone = self._missing(s.submissions, course_id, seen["submission"])
            counts["submissions"].deleted += mark_deleted(self.session, s.submissions, course_id, gone, now=self.now)

    def _courses_complete(self, marker: Change) -> None:
        types = set((marker.data or {}).get("entity_types") or ("course",))
        if "course" not in types:
            return
        s = self.streams
        seen = self._seen_courses | self._unchanged(marker).get("course", set())
        gone = self._missing(s.courses, self.user_id, seen)
        self.result.counts["courses"].deleted += mark_deleted(self.session, s.courses, self.user_id, gone,
                                                              now=self.now)

    def _unchanged(self, marker: Change) -> dict[str, set[int]]:
        """A connector that skips objects whose hash it already knows lists them in its marker
        ("<entity_type>:<external_id>"): they are present, not deleted."""
        found: dict[str, set[int]] = {}
        for ref in (marker.data or {}).get("unchanged") or ():
            entity_type, _, external_id = str(ref).partition(":")
            if external_id:
                found.setdefault(entity_type, set()).add(derived_id(self.system, external_id))
        return found

    def _missing(self, stream: Stream, parent_id: int, seen: set[int]) -> list[int]:
        live = self.session.scalars(select(getattr(stream.model, stream.canvas_id)).where(
            *stream.scope(parent_id), stream.model.deleted_at.is_(None)))
        return [cid for cid in live if cid not in seen]

    def _mark_live(self, stream: Stream, parent_id: int, ids: list[int]) -> int:
        column = getattr(stream.model, stream.canvas_id)
        return self.session.execute(
            update(stream.model).where(*stream.scope(parent_id), column.in_(ids), stream.model.deleted_at.is_(None))
            .values(deleted_at=self.now)).rowcount

    def _delete_submissions_of(self, course_id: int, assignment_ids: list[int]) -> int:
        """Submissions go with their assignment."""
        deleted = 0
        for start in range(0, len(assignment_ids), IN_CHUNK):
            deleted += self.session.execute(
                update(Submission).where(
                    Submission.course_id == course_id, Submission.deleted_at.is_(None),
                    Submission.canvas_assignment_id.in_(assignment_ids[start:start + IN_CHUNK]))
                .values(deleted_at=self.now)).rowcount
        return deleted


def hide_source_courses(session: Session, user_id: int, system: str) -> int:
    """Mark a disconnected source's courses deleted (the next full pull after reconnecting revives them)."""
    if system == CANVAS:
        raise ValueError("Canvas courses are not hidden this way")
    return session.execute(
        update(Course).where(Course.user_id == user_id, Course.source_system == system, Course.deleted_at.is_(None))
        .values(deleted_at=utcnow())).rowcount
