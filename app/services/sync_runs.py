"""The sync_run row's lifecycle and the per-user lock that keeps one sync per user.

The lock is a row keyed by user id: inserting it is atomic on every backend, so two
threads or two processes (or two Celery workers) can never both hold it.

A holder that dies leaves its row behind. Two ways out, both safe:

* same host: the owner string records host, pid and the process's start time
  (``/proc/<pid>/stat``). When the host is ours and that pid no longer exists (or is now
  another process, started at another time), the holder is dead for certain and the lock
  is taken over at once. A pid we cannot inspect counts as alive.
* any host: the holder heartbeats with each course it commits; a lock not extended for
  ``LOCK_TTL`` expires and is taken over (the only way out for a dead holder on another
  machine, whose pids we cannot see).

Taking over is a compare-and-delete of the exact row we judged (same owner and run), so
two contenders cannot both remove it, and the dead run is marked failed.
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
from app.ops import metrics

LOCK_TTL = timedelta(minutes=10)
QUEUED_OWNER = "queued"


def lock_owner() -> str:
    """``host:pid:thread[:start]``, start being the process's start time in clock ticks since boot."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    start = _process_start(os.getpid())
    return f"{owner}:{start}" if start is not None else owner


def _process_start(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after the last ")"
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def holder_is_dead(owner: str) -> bool:
    """True only when the lock's holder ran on this host and its process is certainly gone."""
    parts = owner.split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
        start = int(parts[3]) if len(parts) > 3 else None
    except ValueError:
        return False
    if pid == os.getpid() or pid <= 0:
        return False  # our own process: the holder is a live thread or TTL decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if start is not None:
        current = _process_start(pid)
        return current is not None and current != start  # the pid was reused by another process
    return False


def start_run(session: Session, user_id: int, *, trigger: str, kind: str,
              status: str = SyncRun.RUNNING) -> tuple[SyncRun, bool]:
    """Create a SyncRun holding the user's lock, or return the run already holding it.

    Returns (run, started): started is False when another sync of this user is running
    (or queued). A queued run holds the lock too, so requests made while it waits for a
    worker join it; the worker that takes it up `adopt`s the lock.
    """
    for _ in range(3):
        now = utcnow()
        run = SyncRun(user_id=user_id, trigger=trigger, kind=kind, status=status, started_at=now,
                      heartbeat_at=now)
        session.add(run)
        try:
            session.flush()
            # A queued run belongs to no process yet: only the TTL can expire its lock.
            owner = QUEUED_OWNER if status == SyncRun.QUEUED else lock_owner()
            session.add(SyncLock(user_id=user_id, run_id=run.id, owner=owner, acquired_at=now,
                                 expires_at=now + LOCK_TTL))
            session.commit()
            return run, True
        except IntegrityError:
            session.rollback()
        lock = session.scalar(select(SyncLock).where(SyncLock.user_id == user_id))
        if lock is None:
            continue  # released meanwhile: try again
        if lock.expires_at < utcnow() or holder_is_dead(lock.owner):
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
    session.execute(
        update(SyncRun).where(SyncRun.id == lock.run_id, SyncRun.status == SyncRun.QUEUED)
        .values(status=SyncRun.FAILED, finished_at=utcnow(),
                error="The sync waited too long for a worker; a new sync took over.")
    )
    # compare-and-delete: only the very row we judged dead (a new holder's row survives)
    session.execute(delete(SyncLock).where(SyncLock.user_id == lock.user_id, SyncLock.run_id == lock.run_id,
                                           SyncLock.owner == lock.owner, SyncLock.expires_at == lock.expires_at))
    session.commit()


def adopt(session: Session, run: SyncRun) -> bool:
    """A worker takes up a queued run, or one whose earlier worker died: the lock becomes ours.

    Exclusive: a compare-and-set on the owner we judged free (the queued marker, a dead
    holder, an expired lock), so two workers handed the same run never both run it.
    False when the run's lock is held by a live worker or was taken over meanwhile.
    """
    lock = session.scalar(select(SyncLock).where(SyncLock.user_id == run.user_id, SyncLock.run_id == run.id))
    now = utcnow()
    if lock is None or not (lock.owner == QUEUED_OWNER or lock.expires_at < now or holder_is_dead(lock.owner)):
        session.rollback()
        return False
    taken = session.execute(
        update(SyncLock).where(SyncLock.user_id == run.user_id, SyncLock.run_id == run.id,
                               SyncLock.owner == lock.owner, SyncLock.expires_at == lock.expires_at)
        .values(owner=lock_owner(), expires_at=now + LOCK_TTL)
        .execution_options(synchronize_session=False)).rowcount == 1
    if taken:
        run.status, run.heartbeat_at = SyncRun.RUNNING, now
    session.commit()
    return taken


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
    metrics.observe_run(run)


def active_run(session: Session, user_id: int) -> SyncRun | None:
    lock = session.scalar(select(SyncLock).where(SyncLock.user_id == user_id))
    if lock is None or lock.expires_at < utcnow() or lock.run_id is None or holder_is_dead(lock.owner):
        return None
    return session.get(SyncRun, lock.run_id)


def since_with_overlap(last: datetime | None, overlap: timedelta) -> datetime | None:
    return last - overlap if last else None
