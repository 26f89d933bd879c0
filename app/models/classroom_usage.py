"""Google Classroom usage by date (Admin Reports userUsageReport), one row per Google user per as-of date.

Rows belong to the Canvas Flow user whose Google connection imported them. A date's rows
are replaced as a whole when that date is fetched again, so an overlap never doubles
them. `as_of_date` is the report's date; `imported_at` is when we fetched it (they differ:
Google's reports lag a few days, and a catch-up imports many dates at once).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import RawJsonMixin, UTCDateTime, utcnow


class ClassroomUsage(RawJsonMixin, db.Model):
    # raw_json: the report as Google sent it, compressed like the Canvas rows' raw JSON.
    __tablename__ = "classroom_usage"
    __table_args__ = (
        UniqueConstraint("user_id", "user_email", "as_of_date"),
        Index("ix_classroom_usage_user_date", "user_id", "as_of_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    user_email: Mapped[str] = mapped_column(String(320))
    as_of_date: Mapped[date] = mapped_column(Date)
    profile_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    posts_created: Mapped[int | None] = mapped_column(Integer)
    courses_created: Mapped[int | None] = mapped_column(Integer)
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
