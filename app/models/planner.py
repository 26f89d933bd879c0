"""A user's own mark on an assignment in the planner: done or not.

For Canvas assignments the mark mirrors Canvas's planner override (``marked_complete``),
whose id is kept so the next change is a PUT of the same override; for Classroom and
Schoology items, which have no such thing, the mark is the only copy.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class PlannerMark(db.Model):
    __tablename__ = "planner_mark"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"), unique=True)
    done: Mapped[bool] = mapped_column(Boolean)
    canvas_override_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<PlannerMark assignment={self.assignment_id} done={self.done}>"
