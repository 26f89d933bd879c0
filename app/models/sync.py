"""Sync bookkeeping: one row per run (what the UI polls) and one lock row per user."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import LongText, UTCDateTime, utcnow


class SyncRun(db.Model):
    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_user_started", "user_id", "started_at"),)

    QUEUED, RUNNING, SUCCEEDED, PARTIAL, FAILED = "queued", "running", "succeeded", "partial", "failed"
    FINISHED_STATES = (SUCCEEDED, PARTIAL, FAILED)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(32), default="shell")  # button, schedule, cli, shell
    kind: Mapped[str] = mapped_column(String(32), default="full")  # full, incremental, course
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    progress_current: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    current_item: Mapped[str | None] = mapped_column(String(500))
    counts_json: Mapped[str | None] = mapped_column(LongText)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    throttles: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")

    @property
    def counts(self) -> dict:
        return json.loads(self.counts_json) if self.counts_json else {}

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATES

    @property
    def duration_s(self) -> float | None:
        if not self.finished_at:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.progress_total:
            return 0
        return min(99, int(100 * self.progress_current / self.progress_total))


class SyncLock(db.Model):
    """At most one sync per user across threads and processes: the primary key is the lock."""

    __tablename__ = "sync_lock"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceHeartbeat(db.Model):
    """A singleton process (the scheduler) holds its row: leader lock and liveness in one.

    The holder renews `expires_at` on every beat; another process may take the row over
    only after it expired, so two schedulers started at once never both run jobs, and
    /healthz can tell a scheduler that stopped beating.
    """

    __tablename__ = "service_heartbeat"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SyncBookmark(db.Model):
    """Where the next incremental sync of one stream partition starts (singer-sdk's per-partition state).

    stream "courses" (partition "") is the course list; stream "course" has one
    partition per Canvas course id. `value` is the start of the run that last synced
    the partition completely; it moves only when that partition's data was committed.
    `needs_full` marks a partition whose last attempt failed: its next sync is full.
    Stream "profile" (partition "") is when users/self/profile last answered, so a
    profile without a time zone is not asked again on every incremental run.
    """

    __tablename__ = "sync_bookmark"

    COURSE_LIST, COURSE = "courses", "course"
    PROFILE = "profile"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    partition_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[datetime | None] = mapped_column(UTCDateTime)
    needs_full: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
