"""Canvas JSON -> database rows, one small definition per entity (cf. singer-sdk streams).

Each stream knows its model, the unique key a row is upserted by, and how to turn a
Canvas object into a row. A content hash over the object (minus fields Canvas
recomputes on every read) tells a changed row from an unchanged one for the entities
whose JSON has no `updated_at`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson

from app.models import Assignment, Course, GradeCategory, Submission, Term, raw_codec

# Canvas recomputes these on every request (e.g. seconds_late grows while a submission is missing).
VOLATILE_FIELDS = frozenset({"seconds_late", "preview_url", "needs_grading_count_by_section"})


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _dumps(obj) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # an integer beyond 64 bits: orjson refuses it, json does not
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def raw_and_hash(obj: dict) -> tuple[bytes, str]:
    """The JSON to store and its hash, encoding the object once.

    Both leave out the fields Canvas recomputes on every read (VOLATILE_FIELDS): a stored
    copy of them is stale the moment it is written, and no feature may rely on one (see
    docs/NOTES.md, "Raw JSON storage"). orjson writes the same compact sorted encoding
    json.dumps did for ASCII text, so stored hashes stay comparable; text with non-ASCII
    characters (json escaped it) hashes differently once and is rewritten once.
    """
    if VOLATILE_FIELDS.isdisjoint(obj):
        stable = _dumps(obj)
    else:
        kept = dict(obj)  # a C-level copy and two pops: 6x cheaper than a filtering comprehension
        for name in VOLATILE_FIELDS:
            kept.pop(name, None)
        stable = _dumps(kept)
    return stable, hashlib.sha1(stable).hexdigest()


@dataclass(frozen=True)
class Stream:
    name: str
    model: type
    parent: str  # the column that scopes canvas ids: user_id or course_id
    canvas_id: str  # the column holding the Canvas id
    to_row: Callable[..., dict | tuple]  # submissions: submission_values, a tuple for PreparedUpsert
    # Streams scoped by a user name their source: a user's courses come from several
    # systems, and one system's complete list must not mark another's rows deleted.
    source_system: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        if self.source_system is not None:
            return (self.parent, "source_system", self.canvas_id)
        return (self.parent, self.canvas_id)

    def scope(self, parent_id: int) -> list:
        """The WHERE conditions selecting this stream's rows of one parent."""
        conditions = [getattr(self.model, self.parent) == parent_id]
        if self.source_system is not None:
            conditions.append(self.model.source_system == self.source_system)
        return conditions


def encode(obj: dict) -> tuple[bytes, str]:
    """The stored (compressed) JSON of an object and its content hash: the costly part of a
    row, done by the fetching threads for submissions, off the writer's thread."""
    raw, digest = raw_and_hash(obj)
    return raw_codec.pack(raw), digest


def _bookkeeping(obj: dict, now: datetime) -> dict:
    packed, digest = encode(obj)
    return {"raw_deflate": packed, "content_hash": digest, "first_seen_at": now, "last_synced_canvas": now,
            "deleted_at": None}


def term_row(obj: dict, *, user_id: int, now: datetime) -> dict:
    return {"user_id": user_id, "source_system": "canvas", "canvas_term_id": obj["id"], "name": obj.get("name") or f"Term {obj['id']}",
            "start_at": parse_time(obj.get("start_at")), "end_at": parse_time(obj.get("end_at")),
            **_bookkeeping(obj, now)}


def course_row(obj: dict, *, user_id: int, term_id: int | None, now: datetime) -> dict:
    # The nested term is stored on its own row; keep it out of the course hash.
    course = {k: v for k, v in obj.items() if k != "term"}
    return {"user_id": user_id, "source_system": "canvas", "term_id": term_id, "canvas_course_id": obj["id"],
            "name": (obj.get("name") or obj.get("course_code") or f"Course {obj['id']}")[:255],
            "course_code": (obj.get("course_code") or None) and obj["course_code"][:255],
            "workflow_state": obj.get("workflow_state"),
            "apply_assignment_group_weights": bool(obj.get("apply_assignment_group_weights")),
            "own_current_score": own_current_score(obj), **_bookkeeping(course, now)}


def own_current_score(course: dict) -> float | None:
    """A student's own current score (include[]=total_scores puts it on student enrollments only)."""
    for enrollment in course.get("enrollments") or []:
        if isinstance(enrollment, dict) and enrollment.get("type") == "student":
            score = enrollment.get("computed_current_score")
            if isinstance(score, (int, float)) and not isinstance(score, bool):
                return float(score)
    return None


def group_row(obj: dict, *, course_id: int, now: datetime) -> dict:
    group = {k: v for k, v in obj.items() if k != "assignments"}
    return {"course_id": course_id, "canvas_group_id": obj["id"], "name": (obj.get("name") or "")[:255],
            "weight": obj.get("group_weight"), "position": obj.get("position"), **_bookkeeping(group, now)}


def assignment_row(obj: dict, *, course_id: int, canvas_course_id: int, group_ids: dict[int, int],
                   now: datetime) -> dict:
    group = obj.get("assignment_group_id")
    return {"course_id": course_id, "canvas_assignment_id": obj["id"], "canvas_course_id": canvas_course_id,
            "canvas_group_id": group, "grade_category_id": group_ids.get(group),
            "name": (obj.get("name") or f"Assignment {obj['id']}")[:500], "due_at": parse_time(obj.get("due_at")),
            "points_possible": obj.get("points_possible"),
            "submission_types": ",".join(obj.get("submission_types") or [])[:255] or None,
            "html_url": (obj.get("html_url") or None) and obj["html_url"][:1000],
            "published": bool(obj.get("published", True)), "canvas_updated_at": parse_time(obj.get("updated_at")),
            **_bookkeeping(obj, now)}


# The columns of a submission row, in the order submission_values gives them.
SUBMISSION_COLUMNS = ("course_id", "assignment_id", "canvas_submission_id", "canvas_assignment_id", "canvas_user_id",
                      "score", "grade", "submitted_at", "graded_at", "workflow_state", "late", "missing", "excused",
                      "raw_deflate", "content_hash", "first_seen_at", "last_synced_canvas", "deleted_at")


# The columns stream_writer.write_pages reads or fills in on the writer's thread (see
# PreparedUpsert's open_columns): every other value may be final when the fetcher is done.
SUBMISSION_OPEN_COLUMNS = ("course_id", "assignment_id", "canvas_submission_id", "canvas_assignment_id", "content_hash")


def submission_values(obj: dict, *, now: datetime, encoded: tuple[bytes, str] | None = None) -> tuple:
    """A submission's row as a tuple in SUBMISSION_COLUMNS order, built in a fetching thread.

    The two local ids (course_id, assignment_id) are None: only the writer knows them, and
    it drops a submission of an assignment it does not have (unpublished, deleted). Times
    stay Canvas's ISO 8601 text; PreparedUpsert.params converts them for the driver.
    `encoded`: the object's (stored form, hash) when already made (submission_page).
    """
    packed, digest = encoded or encode(obj)
    grade = obj.get("grade")
    return (None, None, obj["id"], obj.get("assignment_id"), obj.get("user_id") or 0, obj.get("score"),
            None if grade is None else str(grade)[:64], obj.get("submitted_at") or None, obj.get("graded_at") or None,
            obj.get("workflow_state"), bool(obj.get("late")), bool(obj.get("missing")), bool(obj.get("excused")),
            packed, digest, now, now, None)


def submission_page(objs: list[dict], *, now: datetime) -> list[tuple]:
    """submission_values of a page of submissions, their stored forms compressed in one call."""
    stable = [raw_and_hash(obj) for obj in objs]
    packed = raw_codec.pack_many([raw for raw, _ in stable])
    return [submission_values(obj, now=now, encoded=(blob, digest))
            for obj, blob, (_, digest) in zip(objs, packed, stable)]


def submission_row(obj: dict, *, course_id: int, assignment_ids: dict[int, int], now: datetime) -> dict | None:
    """A submission as a row dict with Python values (for ORM objects: the benchmark's baseline).

    The same columns and values as submission_values (the sync's form), times parsed; None
    for a submission of an assignment not in `assignment_ids`.
    """
    assignment_id = assignment_ids.get(obj.get("assignment_id"))
    if assignment_id is None:
        return None
    row = dict(zip(SUBMISSION_COLUMNS, submission_values(obj, now=now)))
    row.update(course_id=course_id, assignment_id=assignment_id, submitted_at=parse_time(row["submitted_at"]),
               graded_at=parse_time(row["graded_at"]))
    return row


TERMS = Stream("terms", Term, "user_id", "canvas_term_id", term_row, source_system="canvas")
COURSES = Stream("courses", Course, "user_id", "canvas_course_id", course_row, source_system="canvas")
GRADE_CATEGORIES = Stream("grade_categories", GradeCategory, "course_id", "canvas_group_id", group_row)
ASSIGNMENTS = Stream("assignments", Assignment, "course_id", "canvas_assignment_id", assignment_row)
SUBMISSIONS = Stream("submissions", Submission, "course_id", "canvas_submission_id", submission_values)
STREAMS = (TERMS, COURSES, GRADE_CATEGORIES, ASSIGNMENTS, SUBMISSIONS)
