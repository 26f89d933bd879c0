"""Operations bookkeeping: alerts raised about syncs, and daily summaries of old history."""
from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import LongText, UTCDateTime, utcnow


class SyncAlert(db.Model):
    """One episode of a problem: opened (and sent) once, resolved (and sent) when the cause clears."""

    __tablename__ = "sync_alert"
    __table_args__ = (
        Index("ix_sync_alert_subject", "kind", "subject", "status"),
        Index("ix_sync_alert_status_opened", "status", "opened_at"),
    )

    OPEN, RESOLVED = "open", "resolved"
    USER_FAILING, USER_STALE, QUEUE_BACKLOG = "user_failing", "user_stale", "queue_backlog"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))  # "user:7", "queue"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    message: Mapped[str] = mapped_column(Text)
    details_json: Mapped[str | None] = mapped_column(LongText)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which channels got the opening and the resolution (comma-separated), for the dashboard.
    sent_to: Mapped[str | None] = mapped_column(String(255))
    resolution_sent_to: Mapped[str | None] = mapped_column(String(255))

    @property
    def details(self) -> dict:
        return json.loads(self.details_json) if self.details_json else {}


class SyncDailySummary(db.Model):
    """Sync history older than its retention, compacted to one row per day, user and kind."""

    __tablename__ = "sync_daily_summary"
    __table_args__ = (UniqueConstraint("day", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    partial: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    throttles: Mapped[int] = mapped_column(Integer, default=0)
    total_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    max_seconds: Mapped[float] = mapped_column(Float, default=0.0)
