"""The durable sync queue (table `sync_operation`): enqueue, claim with a lease, finish.

Every trigger (button, schedule, CLI, webhook, hub delivery) writes an operation here;
executors (thread pool, Celery) only carry operation ids to `process_claimed`. The
database is the truth, so a crash loses nothing: work a dead worker left in progress is
claimed again once its lease expires.

Claiming is atomic across processes: the due rows are read in claim order without locks,
then, on MariaDB and PostgreSQL, each candidate is locked alone by its primary key with
`SELECT ... FOR UPDATE SKIP LOCKED` (workers never wait on each other's rows, and never
skip a row no one holds: a locking read of the whole range would, under InnoDB's
REPEATABLE READ, lock every row it scans). On every backend the claim itself is a
compare-and-set UPDATE that re-checks the row is still due, so of two workers racing for
one row exactly one wins (SQLite serialises writers, which makes that UPDATE its safe
equivalent of SKIP LOCKED). A claim whose candidates were all taken by others reads again,
so N notifications for N due operations run all N.

    op = queue.enqueue(db.session, "canvas_sync", user_id=7, dedupe_key="canvas_sync:user:7")
    queue.process_available(db.session, worker_id="w1")
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import begin_write
from app.models import QueuePause, SyncOperation
from app.models.types import utcnow
from app.ops import metrics
from app.sync import executors
from app.sync.errors import PermanentError, classify, describe

log = logging.getLogger(__name__)

Op = SyncOperation
# A claim reads this many due rows ahead (others may be taking the first ones); while every row
# it read is held by other claims in flight (they commit within milliseconds) it reads again,
# every CLAIM_RETRY_S, for at most CLAIM_WAIT_S.
CLAIM_READ_AHEAD = 8
CLAIM_RETRY_S = 0.02
CLAIM_WAIT_S = 5.0
Handler = Callable[[SyncOperation], "dict | None"]
_HANDLERS: dict[str, Handler] = {}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base, 2*base, 4*base... capped; at most max_attempts runs."""

    max_attempts: int = 5
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    lease_s: float = 600.0

    @classmethod
    def from_config(cls, config) -> "RetryPolicy":
        return cls(max_attempts=config.get("SYNC_QUEUE_MAX_ATTEMPTS", cls.max_attempts),
                   backoff_base_s=config.get("SYNC_QUEUE_BACKOFF_BASE_S", cls.backoff_base_s),
                   backoff_max_s=config.get("SYNC_QUEUE_BACKOFF_MAX_S", cls.backoff_max_s),
                   lease_s=config.get("SYNC_QUEUE_LEASE_S", cls.lease_s))

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempts - 1)))


DEFAULT_POLICY = RetryPolicy()


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- handlers ---------------------------------------------------------------------------

def register(kind: str, fn: Handler) -> None:
    """Name the function that carries out operations of `kind` (app/sync/jobs/ registers every kind)."""
    _HANDLERS[kind] = fn


def handler(kind: str) -> Callable[[Handler], Handler]:
    """`register` as a decorator (for one-off kinds, such as a test's)."""
    def decorate(fn: Handler) -> Handler:
        register(kind, fn)
        return fn
    return decorate


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


# --- writing work -------------------------------------------------------------------------

def enqueue(session: Session, kind: str, *, entity_type: str | None = None, entity_id: str | int | None = None,
            source_system: str | None = None, target_system: str | None = None, user_id: int | None = None,
            payload: dict | None = None, priority: int = 0, dedupe_key: str | None = None,
            batch_key: str | None = None, max_attempts: int | None = None, run_at: datetime | None = None,
            policy: RetryPolicy = DEFAULT_POLICY, commit: bool = True) -> tuple[SyncOperation, bool]:
    """Add an operation; returns (operation, joined).

    With a dedupe_key, an open operation (pending or in progress) with the same key is
    returned instead of a new one (joined=True): a second request joins the first.
    With commit=False the caller's transaction carries the row (the hub's outbox).
    """
    if commit:
        begin_write(session)
    if dedupe_key is not None:
        existing = session.scalar(select(Op).where(Op.dedupe_key == dedupe_key, Op.status.in_(Op.OPEN_STATUSES))
                                  .order_by(Op.id).limit(1))
        if existing is not None:
            return existing, True
    now = utcnow()
    op = Op(kind=kind, entity_type=entity_type, entity_id=None if entity_id is None else str(entity_id),
            source_system=source_system, target_system=target_system, user_id=user_id,
            payload_json=json.dumps(payload, sort_keys=True, default=str) if payload is not None else None,
            priority=priority, status=Op.PENDING, attempts=0,
            max_attempts=max_attempts or policy.max_attempts, next_attempt_at=run_at or now,
            dedupe_key=dedupe_key, batch_key=batch_key, forced=False, created_at=now, updated_at=now)
    session.add(op)
    if commit:
        session.commit()
    else:
        session.flush()
    return op, False


def submit(session: Session, kind: str, *, notify: bool = True, **fields) -> tuple[SyncOperation, bool]:
    """Enqueue (committed) and, when the operation is new and `notify`, wake a worker to run it.

    Takes `enqueue`'s fields; returns (operation, joined). Call it in an app context.
    """
    op, joined = enqueue(session, kind, **fields)
    if notify and not joined:
        wake()
    return op, joined


def wake(count: int = 1) -> None:
    """Tell this app's executor that `count` operations are due (best effort: the table is the truth)."""
    executors.get_executor(current_app._get_current_object()).notify(count)


# --- claiming -----------------------------------------------------------------------------

def due_condition(now: datetime):
    """Operations a worker may claim now (ignoring pauses)."""
    return _due(now)


def _due(now: datetime):
    return or_(and_(Op.status == Op.PENDING, Op.next_attempt_at <= now),
               and_(Op.status == Op.IN_PROGRESS, Op.lease_expires_at < now))


def _not_paused(session: Session):
    paused = set(session.scalars(select(QueuePause.kind)))
    if QueuePause.ALL in paused:
        return Op.forced.is_(True)
    if paused:
        return or_(Op.forced.is_(True), Op.kind.not_in(paused))
    return None


def claim(session: Session, worker_id: str, *, kinds: Iterable[str] | None = None, limit: int = 1,
          policy: RetryPolicy = DEFAULT_POLICY, now: datetime | None = None) -> list[SyncOperation]:
    """Take up to `limit` due operations for this worker (the first one's batch comes along).

    Due means pending and past its next attempt time, or in progress with an expired
    lease (its worker died). Paused kinds are skipped unless an operation was forced.
    """
    fixed_clock, now = now is not None, now or utcnow()
    claimed: list[int] = []
    batch_key = None
    rechecked = False
    waited_until = time.monotonic() + CLAIM_WAIT_S
    while True:
        begin_write(session)
        conditions = _claimable(session, now, kinds)
        candidates = _candidates(session, select(Op.id, Op.batch_key).where(*conditions), CLAIM_READ_AHEAD)
        if not candidates:
            # Rows committed between taking `now` and this read are not due by it, yet their
            # notifications may already have been spent on rows this worker would have taken:
            # read once more, afresh, by a clock taken after the read.
            if fixed_clock or rechecked:
                break
            rechecked, now = True, utcnow()
            session.commit()
            continue
        first = next(((op_id, key) for op_id, key in candidates
                      if _lock_one(session, op_id, now) and _take(session, op_id, worker_id, now, policy)), None)
        if first is not None:
            claimed.append(first[0])
            batch_key = first[1]
            break
        # Every row read is held by another claim still in flight. Those rows leave the due set
        # when their claims commit; until then a due row no one holds may be hidden behind them
        # (this worker's notification may be the one meant for it), so look again, afresh.
        session.commit()
        if time.monotonic() > waited_until:
            break
        time.sleep(CLAIM_RETRY_S)
        now = now if fixed_clock else utcnow()
        rechecked = False
    if claimed and batch_key is not None and limit > 1:  # its batch first
        same_batch = select(Op.id, Op.batch_key).where(*conditions, Op.batch_key == batch_key)
        claimed += _take_some(session, same_batch, limit - 1, worker_id, now, policy)
    if claimed and limit > len(claimed):
        others = select(Op.id, Op.batch_key).where(*conditions)
        claimed += _take_some(session, others, limit - len(claimed), worker_id, now, policy)
    session.commit()
    if not claimed:
        return []
    return list(session.scalars(select(Op).where(Op.id.in_(claimed)).order_by(Op.priority.desc(), Op.id)))


def _claimable(session: Session, now: datetime, kinds: Iterable[str] | None) -> list:
    conditions = [_due(now)]
    if kinds is not None:
        conditions.append(Op.kind.in_(list(kinds)))
    pause_filter = _not_paused(session)
    if pause_filter is not None:
        conditions.append(pause_filter)
    return conditions


def _take_some(session: Session, stmt, limit: int, worker_id: str, now: datetime, policy: RetryPolicy) -> list[int]:
    taken: list[int] = []
    for op_id, _ in _candidates(session, stmt, limit + CLAIM_READ_AHEAD):
        if len(taken) == limit:
            break
        if _lock_one(session, op_id, now) and _take(session, op_id, worker_id, now, policy):
            taken.append(op_id)
    return taken


def _candidates(session: Session, stmt, limit: int) -> list[tuple[int, str | None]]:
    """Due rows in claim order, read without locks: a locking read of a range (InnoDB under REPEATABLE
    READ locks every row it scans) would make other claimers' SKIP LOCKED skip rows no one takes."""
    stmt = stmt.order_by(Op.forced.desc(), Op.priority.desc(), Op.next_attempt_at, Op.id).limit(limit)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def _lock_one(session: Session, op_id: int, now: datetime) -> bool:
    """Lock this one row if it is still due and no other claimer holds it (a primary-key lookup locks
    only that row). SQLite serialises writers, so there the compare-and-set in `_take` is enough."""
    if session.get_bind().dialect.name not in ("mysql", "mariadb", "postgresql"):
        return True
    stmt = select(Op.id).where(Op.id == op_id, _due(now)).with_for_update(skip_locked=True)
    return session.execute(stmt).first() is not None


def _take(session: Session, op_id: int, worker_id: str, now: datetime, policy: RetryPolicy) -> bool:
    """Compare-and-set: only a row that is still due moves to in_progress for this worker."""
    result = session.execute(
        update(Op).where(Op.id == op_id, _due(now))
        .values(status=Op.IN_PROGRESS, worker_id=worker_id, attempts=Op.attempts + 1, started_at=now,
                updated_at=now, lease_expires_at=now + timedelta(seconds=policy.lease_s))
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def extend_lease(session: Session, op: SyncOperation | int, worker_id: str, *,
                 policy: RetryPolicy = DEFAULT_POLICY) -> bool:
    """Heartbeat for long operations; False when the lease was lost to another worker."""
    now = utcnow()
    op_id = op if isinstance(op, int) else op.id
    result = session.execute(
        update(Op).where(Op.id == op_id, Op.worker_id == worker_id, Op.status == Op.IN_PROGRESS)
        .values(lease_expires_at=now + timedelta(seconds=policy.lease_s), updated_at=now)
        .execution_options(synchronize_session=False))
    session.commit()
    return result.rowcount == 1


class LeaseKeeper:
    """Renews a running operation's lease every third of its length from a side thread.

    So a lease only runs out when its worker died (or hung its whole process): a long
    sync keeps its operation, a SIGKILLed worker's operation is claimed again soon after.
    The thread has its own session, since sessions are not shared across threads.
    """

    def __init__(self, bind, op_id: int, worker_id: str, policy: RetryPolicy):
        self.bind, self.op_id, self.worker_id, self.policy = bind, op_id, worker_id, policy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{op_id}", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.policy.lease_s)

    def _run(self) -> None:
        while not self._stop.wait(self.policy.lease_s / 3):
            try:
                with Session(self.bind) as session:
                    if not extend_lease(session, self.op_id, self.worker_id, policy=self.policy):
                        return
            except Exception:  # a database hiccup: try again at the next beat
                log.warning("event=lease_renew_failed op_id=%s", self.op_id, exc_info=True)


# --- finishing ----------------------------------------------------------------------------

def complete(session: Session, op: SyncOperation, worker_id: str, *, result: dict | None = None) -> bool:
    """Mark done; False (and nothing written) when this worker no longer holds the operation."""
    begin_write(session)
    now = utcnow()
    done = session.execute(
        update(Op).where(Op.id == op.id, Op.worker_id == worker_id, Op.status == Op.IN_PROGRESS)
        .values(status=Op.COMPLETED, finished_at=now, updated_at=now, lease_expires_at=None, forced=False,
                error_class=None, error_message=None, error_context_json=None,
                result_json=json.dumps(result, default=str) if result is not None else None)
        .execution_options(synchronize_session=False)).rowcount == 1
    session.commit()
    if done:
        metrics.observe_operation(op.kind, Op.COMPLETED)
    return done


def fail(session: Session, op: SyncOperation, worker_id: str, exc: BaseException, *,
         policy: RetryPolicy = DEFAULT_POLICY, context: dict | None = None) -> str | None:
    """Record a failure: a permanent error or a spent budget fails the operation, a transient
    one puts it back with an exponentially growing delay. Returns the new status."""
    begin_write(session)
    now = utcnow()
    error_class = classify(exc)
    context = {**getattr(exc, "context", {}), **(context or {}), "exception": type(exc).__name__}
    attempts = session.scalar(select(Op.attempts).where(Op.id == op.id)) or 0
    max_attempts = session.scalar(select(Op.max_attempts).where(Op.id == op.id)) or policy.max_attempts
    retry = error_class == Op.TRANSIENT and attempts < max_attempts
    values = dict(error_class=error_class, error_message=describe(exc), updated_at=now, lease_expires_at=None,
                  error_context_json=json.dumps(context, default=str), forced=False)
    if retry:
        values.update(status=Op.PENDING, next_attempt_at=now + policy.delay(attempts))
    else:
        values.update(status=Op.FAILED, finished_at=now)
    changed = session.execute(
        update(Op).where(Op.id == op.id, Op.worker_id == worker_id, Op.status == Op.IN_PROGRESS).values(**values)
        .execution_options(synchronize_session=False)).rowcount == 1
    session.commit()
    if changed:
        metrics.observe_operation(op.kind, values["status"])
        log.warning("event=operation_failed op_id=%s kind=%s attempts=%s error_class=%s retry=%s",
                    op.id, op.kind, attempts, error_class, retry)
    return values["status"] if changed else None


def process_claimed(session: Session, op: SyncOperation, worker_id: str, *,
                    policy: RetryPolicy = DEFAULT_POLICY) -> str | None:
    """Run one claimed operation through its kind's handler and record the outcome."""
    fn = _HANDLERS.get(op.kind)
    if fn is None:
        return fail(session, op, worker_id, PermanentError(f"No handler for operations of kind {op.kind!r}."),
                    policy=policy)
    try:
        with LeaseKeeper(session.get_bind(), op.id, worker_id, policy):
            result = fn(op)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the operation
        session.rollback()
        log.info("event=operation_error op_id=%s kind=%s error=%s", op.id, op.kind, type(exc).__name__)
        return fail(session, op, worker_id, exc, policy=policy)
    return Op.COMPLETED if complete(session, op, worker_id, result=result) else None


def process_available(session: Session, worker_id: str | None = None, *, kinds: Iterable[str] | None = None,
                      max_operations: int = 100, batch_size: int = 10,
                      policy: RetryPolicy = DEFAULT_POLICY) -> int:
    """Drain due work (bounded by max_operations); returns how many operations ran."""
    worker_id = worker_id or default_worker_id()
    ran = 0
    while ran < max_operations:
        ops = claim(session, worker_id, kinds=kinds, limit=min(batch_size, max_operations - ran), policy=policy)
        if not ops:
            break
        for op in ops:
            process_claimed(session, op, worker_id, policy=policy)
            ran += 1
    return ran


# --- operator controls ----------------------------------------------------------------------

def pause(session: Session, kind: str | None = None, *, by: str | None = None) -> None:
    """Stop claims of one kind, or of the whole queue (kind None)."""
    key = kind or QueuePause.ALL
    if session.get(QueuePause, key) is None:
        session.add(QueuePause(kind=key, paused_at=utcnow(), paused_by=by))
    session.commit()


def resume(session: Session, kind: str | None = None) -> None:
    row = session.get(QueuePause, kind or QueuePause.ALL)
    if row is not None:
        session.delete(row)
    session.commit()


def paused_kinds(session: Session) -> list[str]:
    return list(session.scalars(select(QueuePause.kind).order_by(QueuePause.kind)))


def retry(session: Session, op_id: int) -> bool:
    """Put a failed or skipped operation back, due now, with a fresh attempt budget."""
    return _set(session, op_id, [Op.FAILED, Op.SKIPPED, Op.PENDING], status=Op.PENDING, attempts=0,
                next_attempt_at=utcnow(), finished_at=None)


def skip(session: Session, op_id: int) -> bool:
    """Give up on a pending or failed operation without running it."""
    return _set(session, op_id, [Op.PENDING, Op.FAILED], status=Op.SKIPPED, finished_at=utcnow())


def force(session: Session, op_id: int) -> bool:
    """Run now: ahead of the rest, despite a pause, a backoff delay or an earlier failure."""
    return _set(session, op_id, [Op.PENDING, Op.FAILED, Op.SKIPPED], status=Op.PENDING, forced=True,
                next_attempt_at=utcnow(), finished_at=None, attempts=0)


def _set(session: Session, op_id: int, from_statuses: list[str], **values) -> bool:
    changed = session.execute(update(Op).where(Op.id == op_id, Op.status.in_(from_statuses))
                              .values(updated_at=utcnow(), **values)
                              .execution_options(synchronize_session=False)).rowcount == 1
    session.commit()
    return changed


def bulk_retry(session: Session, *, kind: str | None = None, entity_type: str | None = None,
               since: datetime | None = None, until: datetime | None = None) -> int:
    """Retry every failed operation matching kind, entity type and creation-time range."""
    conditions = [Op.status == Op.FAILED]
    if kind:
        conditions.append(Op.kind == kind)
    if entity_type:
        conditions.append(Op.entity_type == entity_type)
    if since:
        conditions.append(Op.created_at >= since)
    if until:
        conditions.append(Op.created_at < until)
    count = session.execute(update(Op).where(*conditions)
                            .values(status=Op.PENDING, attempts=0, next_attempt_at=utcnow(), finished_at=None,
                                    updated_at=utcnow())
                            .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return count


def status_counts(session: Session, *, kind: str | None = None) -> dict[str, int]:
    stmt = select(Op.status, func.count()).group_by(Op.status)
    if kind:
        stmt = stmt.where(Op.kind == kind)
    counts = {status: 0 for status in Op.STATUSES}
    counts.update({status: n for status, n in session.execute(stmt)})
    return counts
