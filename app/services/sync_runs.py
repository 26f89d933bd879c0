"""The sync_run row's lifecycle and the per-user lock that keeps one sync per user.

The lock is a row keyed by user id: inserting it is atomic on every backend, so two
threads or two processes (or two Celery workers) can never both hold it. A lock whose
holder stopped heartbeating (a crashed process) expires and is taken over.
"""
from __future__ import annotations

import json
import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import SyncLock, SyncRun
from app.models.types import utcnow

LOCK_TTL = timedelta(minutes=10)


def lock_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def start_run(session: Session, user_id: int, *, trigger: str, kind: str) -> tuple[SyncRun, bool]:
    """Create a running SyncRun holding the user's lock, or return the run already holding it.

    Returns (run, started): started is False when another sync of this user is running.
    """
    for _ in range(3):
        now = utcnow()
        run = SyncRun(user_id=user_id, trigger=trigger, kind=kind, status=SyncRun.RUNNING, started_at=now,
                      heartbeat_at=now)
        session.add(run)
        try:
            session.flush()
            session.add(SyncLock(user_id=user_id, run_id=run.id, owner=lock_owner(), acquired_at=now,
                                 expires_at=now + LOCK_TTL))
            session.commit()
            return run, True
        except IntegrityError:
            session.rollback()
        lock = session.scalar(select(SyncLock).where(SyncLock.user_id == user_id))
        if lock is None:
            continue  # released meanwhile: try again
        if lock.expires_at < utcnow():
            _expire(session, lock)
            continue
        running = session.get(SyncRun, lock.run_id) if lock.run_id else None
        if running is not None:
            return running, False
    raise RuntimeError("could not acquire or join the user's sync lock")


def _expire(session: Session, lock: SyncLock) -> None:
    """Take over a lock whose holder died: its run is marked failed, work is re-done by us."""
    session.execute(
        update(SyncRun).where(SyncRun.id == lock.run_id, SyncRun.status == SyncRun.RUNNING)
        .values(status=SyncRun.FAILED, finished_at=utcnow(),
                error="The sync stopped unexpectedly (its worker died); a new sync took over.")
    )
    session.execute(delete(SyncLock).where(SyncLock.user_id == lock.user_id, SyncLock.expires_at < utcnow()))
    session.commit()


def heartbeat(session: Session, run: SyncRun) -> None:
    """Extend the lock; call inside the same transaction as a course's writes."""
    now = utcnow()
    run.heartbeat_at = now
    session.execute(update(SyncLock).where(SyncLock.run_id == run.id).values(expires_at=now + LOCK_TTL))


def finish_run(session: Session, run: SyncRun, *, status: str, counts: dict, stats: dict, error: str | None) -> None:
    run.status = status
    run.finished_at = utcnow()
    run.counts_json = json.dumps(counts)
    run.requests = stats.get("requests", 0)
    run.retries = stats.get("retries", 0)
    run.throttles = stats.get("throttles", 0)
    run.error = error
    if status != SyncRun.FAILED:
        run.progress_current = run.progress_total
    session.execute(delete(SyncLock).where(SyncLock.run_id == run.id))
    session.commit()


def active_run(session: Session, user_id: int) -> SyncRun | None:
    lock = session.scalar(select(SyncLock).where(SyncLock.user_id == user_id))
    if lock is None or lock.expires_at < utcnow() or lock.run_id is None:
        return None
    return session.get(SyncRun, lock.run_id)


def since_with_overlap(last: datetime | None, overlap: timedelta) -> datetime | None:
    return last - overlap if last else None
