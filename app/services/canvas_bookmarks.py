"""Per-course sync bookkeeping (calling thread): what the database knew before a run,
the per-course and course-list bookmarks, and courses Canvas no longer opens."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import Assignment, Course, SyncBookmark, User
from app.models.types import utcnow
from app.services.canvas_streams import COURSES
from app.services.upsert import upsert


@dataclass(frozen=True)
class KnownCourse:
    """A course as the database has it before the run."""

    id: int
    name: str
    deleted_at: datetime | None
    access_state: str | None


def course_label(course: dict, known: dict) -> str:
    """Canvas's name, else the name we kept, else the id (a stub carries no name)."""
    if course.get("name"):
        return str(course["name"])
    local = known.get(course.get("id"))
    return local.name if local is not None else f"course {course.get('id')}"


def known_courses(session: Session, user_id: int) -> dict[int, KnownCourse]:
    """{canvas course id: KnownCourse} of the user's courses in the database."""
    return {cid: KnownCourse(local_id, name, deleted_at, state) for cid, local_id, name, deleted_at, state in
            session.execute(select(Course.canvas_course_id, Course.id, Course.name, Course.deleted_at,
                                   Course.access_state).where(*COURSES.scope(user_id)))}


def assignment_hashes(session: Session, user_id: int) -> dict[int, dict[int, str]]:
    """{canvas course id: {canvas assignment id: content hash}} of live assignments."""
    by_course: dict[int, dict[int, str]] = {}
    for course_id, assignment_id, digest in session.execute(
        select(Course.canvas_course_id, Assignment.canvas_assignment_id, Assignment.content_hash)
        .join(Course, Assignment.course_id == Course.id)
        .where(*COURSES.scope(user_id), Assignment.deleted_at.is_(None))
    ):
        by_course.setdefault(course_id, {})[assignment_id] = digest
    return by_course


def can_sync_incrementally(session: Session, user: User) -> bool:
    """An incremental run needs the course list synced once (or a sync from before bookmarks)."""
    if user.last_synced_canvas is not None:
        return True
    return session.scalar(select(func.count()).select_from(SyncBookmark).where(
        SyncBookmark.user_id == user.id, SyncBookmark.stream == SyncBookmark.COURSE_LIST)) > 0


def course_bookmarks(session: Session, user_id: int) -> dict[int, datetime]:
    """{canvas course id: bookmark} of the courses whose next fetch may be incremental."""
    out = {}
    for key, value in session.execute(
        select(SyncBookmark.partition_key, SyncBookmark.value).where(
            SyncBookmark.user_id == user_id, SyncBookmark.stream == SyncBookmark.COURSE,
            SyncBookmark.needs_full.is_(False), SyncBookmark.value.is_not(None))
    ):
        if key.isdigit():
            out[int(key)] = value
    return out


def set_bookmark(session: Session, user_id: int, stream: str, partition: str, value: datetime,
                 now: datetime) -> None:
    upsert(session, SyncBookmark, [{"user_id": user_id, "stream": stream, "partition_key": partition,
                                    "value": value, "needs_full": False, "updated_at": now}],
           key=("user_id", "stream", "partition_key"))


def needs_full(session: Session, user_id: int, canvas_course_id: int) -> None:
    """The course's next fetch is full; its bookmark value stays where it was."""
    session.execute(
        update(SyncBookmark).where(SyncBookmark.user_id == user_id, SyncBookmark.stream == SyncBookmark.COURSE,
                                   SyncBookmark.partition_key == str(canvas_course_id))
        .values(needs_full=True, updated_at=utcnow()))


def course_synced(session: Session, user_id: int, course: dict, known: dict, started_at: datetime,
                  now: datetime) -> None:
    """Move the course's bookmark; a course open again loses its access state."""
    set_bookmark(session, user_id, SyncBookmark.COURSE, str(course["id"]), started_at, now)
    local = known.get(course["id"])
    if local is not None and local.access_state is not None:  # open again
        session.execute(update(Course).where(Course.id == local.id)
                        .values(access_state=None, inaccessible_since=None))


def mark_inaccessible(session: Session, user_id: int, local: KnownCourse, canvas_course_id: int, state: str,
                      now: datetime) -> None:
    """Flag the kept copy of a course Canvas no longer opens; it is fetched in full when it does."""
    session.execute(update(Course).where(Course.id == local.id).values(access_state=state, deleted_at=None))
    session.execute(update(Course).where(Course.id == local.id, Course.inaccessible_since.is_(None))
                    .values(inaccessible_since=now))
    # What changed meanwhile is unknown.
    needs_full(session, user_id, canvas_course_id)
