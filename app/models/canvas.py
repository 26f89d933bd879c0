"""Canvas entities as synced: typed columns for queries, raw JSON beside them.

Every synced row is keyed by its Canvas id under its owner (a user for terms and
courses, a course for everything below), so a re-sync upserts instead of duplicating.

The same tables hold courses, assignments and submissions pulled from Google Classroom
and Schoology (app/sync/sources/store.py): `source_system` says where a row came from,
`external_id` holds that system's own id (opaque strings in Classroom), and the
canvas_*_id columns of such a row hold a stable 63-bit number derived from it
(`derived_id`), so every key, join and index keeps working unchanged. A user's terms
and courses are keyed per source; rows under a course inherit its source.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import RawJsonMixin, UTCDateTime, utcnow


CANVAS, CLASSROOM, SCHOOLOGY = "canvas", "classroom", "schoology"
SOURCE_SYSTEMS = (CANVAS, CLASSROOM, SCHOOLOGY)
SOURCE_LABELS = {CANVAS: "Canvas", CLASSROOM: "Classroom", SCHOOLOGY: "Schoology"}  # badges
SOURCE_NAMES = {CANVAS: "Canvas", CLASSROOM: "Google Classroom", SCHOOLOGY: "Schoology"}  # sentences


def derived_id(system: str, external_id: str) -> int:
    """The canvas_*_id a non-Canvas row is keyed by: a stable positive 63-bit hash of its id.

    Classroom ids are opaque strings and Google user ids have 21 digits (beyond BIGINT),
    so the system's id itself lives in `external_id`; collisions need ~3e9 rows under one owner.
    """
    digest = hashlib.blake2b(f"{system}:{external_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


class SourceMixin:
    """Where a synced row came from: "canvas" (every row before 0007), "classroom" or "schoology"."""

    # A server default only: a Python-side default would make every bulk upsert's rows
    # carry the column (app/services/upsert.py compiles a bind for it).
    source_system: Mapped[str] = mapped_column(String(16), server_default=CANVAS)
    # The source's own id, as it sends it; None on Canvas rows (their canvas_*_id is the id).
    external_id: Mapped[str | None] = mapped_column(String(255))

    CANVAS_ID: ClassVar[str]  # the model's canvas_*_id column

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source_system, self.source_system)

    @property
    def source_id(self) -> str:
        """The row's id in its own system (Classroom's or Schoology's id, or the Canvas id as text):
        with source_system, a stable reference for feeds and links (e.g. calendar UIDs)."""
        return self.external_id if self.external_id is not None else str(getattr(self, self.CANVAS_ID))


class SyncedMixin(RawJsonMixin):
    """Bookkeeping every synced row carries (see DESIGN.md, Storage).

    `raw_json` is the object's JSON as Canvas sent it, minus fields recomputed on every read.
    """

    content_hash: Mapped[str | None] = mapped_column(String(40))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_synced_canvas: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Term(SourceMixin, SyncedMixin, db.Model):
    __tablename__ = "term"
    __table_args__ = (
        UniqueConstraint("user_id", "source_system", "canvas_term_id"),
        Index("idx_term_user_id", "user_id"),
    )

    CANVAS_ID = "canvas_term_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    canvas_term_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    courses: Mapped[list[Course]] = relationship(back_populates="term")


class Course(SourceMixin, SyncedMixin, db.Model):
    __tablename__ = "course"
    __table_args__ = (
        UniqueConstraint("user_id", "source_system", "canvas_course_id"),
        Index("idx_course_canvas_id", "canvas_course_id"),
        Index("idx_course_canvas_lookup", "canvas_course_id", "term_id"),
        Index("idx_course_last_synced", "last_synced_canvas"),
    )

    CANVAS_ID = "canvas_course_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    term_id: Mapped[int | None] = mapped_column(ForeignKey("term.id", ondelete="SET NULL"))
    canvas_course_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    course_code: Mapped[str | None] = mapped_column(String(255))
    workflow_state: Mapped[str | None] = mapped_column(String(32))
    apply_assignment_group_weights: Mapped[bool] = mapped_column(Boolean, default=False)
    # None while Canvas lets the user open the course. "restricted": Canvas lists it as a
    # bare access_restricted_by_date stub (concluded or date-restricted); "unauthorized":
    # its calls answer 401/403 "unauthorized" while the token is good (the enrollment
    # ended). Either way the local copy is the last one synced and is kept as it is.
    access_state: Mapped[str | None] = mapped_column(String(16))
    inaccessible_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The user's own current score as Canvas computes it (a student enrollment's
    # computed_current_score, from include[]=total_scores); None for teachers.
    own_current_score: Mapped[float | None] = mapped_column(Float)

    OPEN, RESTRICTED, UNAUTHORIZED = None, "restricted", "unauthorized"

    @property
    def is_open(self) -> bool:
        return self.access_state is None

    term: Mapped[Term | None] = relationship(back_populates="courses")
    grade_categories: Mapped[list[GradeCategory]] = relationship(
        back_populates="course", order_by="GradeCategory.position"
    )
    assignments: Mapped[list[Assignment]] = relationship(back_populates="course")


class GradeCategory(SyncedMixin, db.Model):
    """A Canvas assignment group: a weighted bucket of assignments."""

    __tablename__ = "grade_category"
    __table_args__ = (
        UniqueConstraint("course_id", "canvas_group_id"),
        Index("idx_grade_category_name_lookup", "course_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    canvas_group_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    weight: Mapped[float | None] = mapped_column(Float)
    position: Mapped[int | None] = mapped_column(Integer)

    course: Mapped[Course] = relationship(back_populates="grade_categories")
    assignments: Mapped[list[Assignment]] = relationship(back_populates="grade_category")


class Assignment(SourceMixin, SyncedMixin, db.Model):
    __tablename__ = "assignment"
    __table_args__ = (
        # Under a course, which has one source: widening this key would guard nothing.
        UniqueConstraint("course_id", "canvas_assignment_id"),
        Index("idx_assignment_canvas_id", "canvas_assignment_id"),
        Index("idx_assignment_canvas_course_id", "canvas_course_id"),
        Index("idx_assignment_canvas_lookup", "canvas_assignment_id", "course_id"),
        Index("idx_assignment_course_id", "course_id"),
        Index("idx_assignment_last_synced", "last_synced_canvas"),
        Index("ix_assignment_due_at", "due_at"),
    )

    CANVAS_ID = "canvas_assignment_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    grade_category_id: Mapped[int | None] = mapped_column(
        ForeignKey("grade_category.id", ondelete="SET NULL")
    )
    canvas_assignment_id: Mapped[int] = mapped_column(BigInteger)
    canvas_course_id: Mapped[int] = mapped_column(BigInteger)
    canvas_group_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(500))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    points_possible: Mapped[float | None] = mapped_column(Float)
    submission_types: Mapped[str | None] = mapped_column(String(255))
    html_url: Mapped[str | None] = mapped_column(String(1000))
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    canvas_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    course: Mapped[Course] = relationship(back_populates="assignments")
    grade_category: Mapped[GradeCategory | None] = relationship(back_populates="assignments")
    submissions: Mapped[list[Submission]] = relationship(back_populates="assignment")


class Submission(SourceMixin, SyncedMixin, db.Model):
    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("course_id", "canvas_submission_id"),
        Index("ix_submission_assignment_user", "assignment_id", "canvas_user_id"),
    )

    CANVAS_ID = "canvas_submission_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"))
    canvas_submission_id: Mapped[int] = mapped_column(BigInteger)
    canvas_assignment_id: Mapped[int] = mapped_column(BigInteger)
    canvas_user_id: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    workflow_state: Mapped[str | None] = mapped_column(String(32))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    excused: Mapped[bool] = mapped_column(Boolean, default=False)

    assignment: Mapped[Assignment] = relationship(back_populates="submissions")


# The indexes the incremental sync's hot queries rely on; add_canvas_indexes.py
# creates whichever of them an older database lacks.
SYNC_INDEX_NAMES = (
    "idx_assignment_canvas_id",
    "idx_assignment_canvas_course_id",
    "idx_course_canvas_id",
    "idx_term_user_id",
    "idx_assignment_canvas_lookup",
    "idx_assignment_course_id",
    "idx_course_canvas_lookup",
    "idx_grade_category_name_lookup",
    "idx_assignment_last_synced",
    "idx_course_last_synced",
)
