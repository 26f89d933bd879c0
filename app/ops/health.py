"""/healthz: is this deployment able to sync? Database, scheduler heartbeat, queue."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models import QueuePause, ServiceHeartbeat, SyncOperation
from app.models.types import utcnow
from app.sync.queue import due_condition


def check(session: Session, *, scheduler_expected: bool, stuck_after: timedelta,
          now: datetime | None = None) -> tuple[bool, dict]:
    """(healthy, details): details say each part's state in a word, never a secret."""
    now = now or utcnow()
    try:
        return _check(session, scheduler_expected, stuck_after, now)
    except Exception as exc:  # noqa: BLE001 - any failure means the database is not usable
        session.rollback()
        return False, {"database": "unreachable", "error": type(exc).__name__}


def _check(session: Session, scheduler_expected: bool, stuck_after: timedelta, now: datetime) -> tuple[bool, dict]:
    session.execute(text("SELECT 1"))
    details = {"database": "ok"}
    beat = session.get(ServiceHeartbeat, "scheduler")
    if not scheduler_expected:
        details["scheduler"] = "disabled"
    elif beat is None:
        details["scheduler"] = "not running"
    else:
        details["scheduler"] = "ok" if beat.expires_at > now else "stale"
        details["scheduler_beat_at"] = beat.beat_at.isoformat(timespec="seconds")
    oldest_due = session.scalar(select(func.min(SyncOperation.next_attempt_at)).where(due_condition(now)))
    if oldest_due is not None and oldest_due.tzinfo is None:
        oldest_due = oldest_due.replace(tzinfo=now.tzinfo)
    paused = list(session.scalars(select(QueuePause.kind).order_by(QueuePause.kind)))
    if QueuePause.ALL in paused:
        # An admin's decision, not a fault: said as it is, and still healthy (work waits, nothing is lost).
        details["queue"] = "paused"
    else:
        details["queue"] = "stuck" if oldest_due is not None and oldest_due < now - stuck_after else "ok"
        if paused:
            details["paused_kinds"] = paused
    healthy = details["scheduler"] in ("ok", "disabled") and details["queue"] in ("ok", "paused")
    return healthy, details
