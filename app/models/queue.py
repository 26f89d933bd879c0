"""The durable sync queue: one row per operation (a transactional outbox), and pause switches.

A Canvas sync of one user is an operation; so is each hub delivery of a change to
another system. The table is the truth; executors (thread pool, Celery) only move ids.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import LongText, UTCDateTime, utcnow


class SyncOperation(db.Model):
    __tablename__ = "sync_operation"
    __table_args__ = (
        # What claim() scans: due work by status, then priority.
        Index("ix_sync_operation_claim", "status", "next_attempt_at", "priority"),
        Index("ix_sync_operation_kind_status", "kind", "status"),
        Index("ix_sync_operation_dedupe", "dedupe_key", "status"),
        Index("ix_sync_operation_batch", "batch_key", "status"),
        Index("ix_sync_operation_entity", "entity_type", "entity_id"),
        Index("ix_sync_operation_user_created", "user_id", "created_at"),
    )

    PENDING, IN_PROGRESS, COMPLETED, FAILED, SKIPPED = "pending", "in_progress", "completed", "failed", "skipped"
    STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED, SKIPPED)
    OPEN_STATUSES = (PENDING, IN_PROGRESS)
    TRANSIENT, PERMANENT = "transient", "permanent"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(255))
    source_system: Mapped[str | None] = mapped_column(String(32))
    target_system: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    payload_json: Mapped[str | None] = mapped_column(LongText)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher runs first
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Joins a request to open work on the same thing (one sync per user).
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    # Operations sharing a batch key are claimed together (one topic's posts, say).
    batch_key: Mapped[str | None] = mapped_column(String(255))
    # A forced operation runs now, even when its kind is paused or it had failed.
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    error_class: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_context_json: Mapped[str | None] = mapped_column(LongText)
    result_json: Mapped[str | None] = mapped_column(LongText)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def payload(self) -> dict:
        return json.loads(self.payload_json) if self.payload_json else {}

    @property
    def error_context(self) -> dict:
        return json.loads(self.error_context_json) if self.error_context_json else {}

    @property
    def result(self) -> dict:
        return json.loads(self.result_json) if self.result_json else {}

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class QueuePause(db.Model):
    """A paused kind (or '*' for the whole queue): claims skip it until it is resumed."""

    __tablename__ = "sync_queue_pause"

    ALL = "*"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paused_by: Mapped[str | None] = mapped_column(String(255))
