"""The durable queue on every backend: claims, leases, retries, pause and the operator controls."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import SyncOperation
from app.models.types import utcnow
from app.sync import queue
from app.sync.errors import PermanentError, TransientError

Op = SyncOperation
FAST = queue.RetryPolicy(max_attempts=4, backoff_base_s=10, backoff_max_s=1000, lease_s=60)


def _enqueue(kind="test_kind", **kwargs) -> int:
    op, _ = queue.enqueue(db.session, kind, **kwargs)
    return op.id


def _status(op_id) -> SyncOperation:
    db.session.expire_all()
    return db.session.get(Op, op_id)


def test_dedupe_key_joins_open_work_only(app):
    first, joined = queue.enqueue(db.session, "k", dedupe_key="user:1")
    second, joined_again = queue.enqueue(db.session, "k", dedupe_key="user:1")
    assert (joined, joined_again, second.id) == (False, True, first.id)
    [claimed] = queue.claim(db.session, "w1")
    queue.complete(db.session, claimed, "w1")
    third, joined_after = queue.enqueue(db.session, "k", dedupe_key="user:1")
    assert not joined_after and third.id != first.id


def test_claim_takes_highest_priority_then_oldest_and_never_twice(app):
    low = _enqueue(priority=0)
    high = _enqueue(priority=5)
    later = _enqueue(priority=0)
    assert [op.id for op in queue.claim(db.session, "w1", limit=2)] == [high, low]
    assert [op.id for op in queue.claim(db.session, "w2", limit=5)] == [later]
    assert queue.claim(db.session, "w3", limit=5) == []
    assert _status(high).worker_id == "w1" and _status(high).attempts == 1


def test_future_operations_wait(app):
    _enqueue(run_at=utcnow() + timedelta(hours=1))
    assert queue.claim(db.session, "w1") == []


def test_expired_lease_is_claimed_again_and_stale_worker_cannot_finish(app):
    op_id = _enqueue()
    [op] = queue.claim(db.session, "dead-worker", policy=FAST)
    assert queue.claim(db.session, "w2", policy=FAST) == []  # lease still held
    later = utcnow() + timedelta(seconds=FAST.lease_s + 1)
    [again] = queue.claim(db.session, "w2", policy=FAST, now=later)
    assert again.id == op_id and again.attempts == 2
    assert queue.complete(db.session, op, "dead-worker") is False  # lost its lease
    assert queue.complete(db.session, again, "w2") is True
    assert _status(op_id).status == Op.COMPLETED


def test_pause_stops_claims_and_resume_restarts_them(app):
    sync_id = _enqueue("canvas_sync")
    other_id = _enqueue("hub_delivery")
    queue.pause(db.session)
    assert queue.claim(db.session, "w1", limit=5) == []
    queue.resume(db.session)
    queue.pause(db.session, "canvas_sync")
    assert [op.id for op in queue.claim(db.session, "w1", limit=5)] == [other_id]
    assert queue.paused_kinds(db.session) == ["canvas_sync"]
    queue.resume(db.session, "canvas_sync")
    assert [op.id for op in queue.claim(db.session, "w1", limit=5)] == [sync_id]


def test_permanent_error_is_not_retried(app):
    op_id = _enqueue()
    [op] = queue.claim(db.session, "w1", policy=FAST)
    assert queue.fail(db.session, op, "w1", PermanentError("Canvas rejected the token."), policy=FAST) == Op.FAILED
    row = _status(op_id)
    assert (row.status, row.error_class, row.attempts) == (Op.FAILED, "permanent", 1)
    assert row.error_message == "Canvas rejected the token."


def test_transient_error_is_retried_with_growing_delays_up_to_the_limit(app):
    op_id = _enqueue(max_attempts=4)
    delays, now = [], utcnow()
    for _ in range(4):
        [op] = queue.claim(db.session, "w1", policy=FAST, now=now)
        before = utcnow()
        status = queue.fail(db.session, op, "w1", TransientError("Canvas answered 503."), policy=FAST)
        row = _status(op_id)
        if status == Op.PENDING:
            delays.append((row.next_attempt_at - before).total_seconds())
            now = row.next_attempt_at + timedelta(seconds=1)
    assert status == Op.FAILED and row.attempts == 4 and row.error_class == "transient"
    assert [round(d) for d in delays] == [10, 20, 40]


def test_unknown_exceptions_are_classified(app):
    op_id = _enqueue()
    [op] = queue.claim(db.session, "w1", policy=FAST)
    queue.fail(db.session, op, "w1", ConnectionError("reset by peer"), policy=FAST)
    assert _status(op_id).status == Op.PENDING
    [op] = queue.claim(db.session, "w1", policy=FAST, now=utcnow() + timedelta(seconds=11))
    queue.fail(db.session, op, "w1", ValueError("malformed"), policy=FAST)
    assert _status(op_id).status == Op.FAILED


def test_related_operations_are_claimed_as_a_batch(app):
    a = _enqueue(batch_key="topic:1")
    _enqueue(batch_key="topic:2")
    b = _enqueue(batch_key="topic:1")
    assert sorted(op.id for op in queue.claim(db.session, "w1", limit=2)) == [a, b]


def test_retry_skip_force_and_bulk_retry(app):
    failed = _enqueue(kind="hub_delivery", entity_type="post")
    [op] = queue.claim(db.session, "w1")
    queue.fail(db.session, op, "w1", PermanentError("404"))
    assert queue.retry(db.session, failed) and _status(failed).status == Op.PENDING
    assert queue.skip(db.session, failed) and _status(failed).status == Op.SKIPPED
    queue.pause(db.session)
    assert queue.force(db.session, failed)
    [forced] = queue.claim(db.session, "w1")  # a forced operation runs despite the pause
    assert forced.id == failed
    queue.complete(db.session, forced, "w1")
    queue.resume(db.session)

    old = _enqueue(kind="hub_delivery", entity_type="post")
    new = _enqueue(kind="hub_delivery", entity_type="topic")
    for op in queue.claim(db.session, "w1", limit=2):
        queue.fail(db.session, op, "w1", PermanentError("bad"))
    assert queue.bulk_retry(db.session, kind="hub_delivery", entity_type="topic") == 1
    assert (_status(new).status, _status(old).status) == (Op.PENDING, Op.FAILED)
    assert queue.bulk_retry(db.session, since=utcnow() + timedelta(hours=1)) == 0
    assert queue.bulk_retry(db.session, until=utcnow() + timedelta(hours=1)) == 1


def test_process_available_runs_handlers_and_records_outcomes(app):
    seen = []

    @queue.handler("test_ok")
    def ok(op):
        seen.append(op.payload["n"])
        return {"doubled": op.payload["n"] * 2}

    @queue.handler("test_broken")
    def broken(op):
        raise PermanentError("The target said no.")

    ok_id = _enqueue("test_ok", payload={"n": 21})
    broken_id = _enqueue("test_broken")
    missing_id = _enqueue("no_such_kind")
    assert queue.process_available(db.session, "w1") == 3
    assert seen == [21] and _status(ok_id).result == {"doubled": 42}
    assert _status(broken_id).status == Op.FAILED
    assert "No handler" in _status(missing_id).error_message
    assert queue.status_counts(db.session)["failed"] == 2


def test_concurrent_claimers_never_take_the_same_operation(app):
    ids = {_enqueue() for _ in range(30)}
    taken: dict[str, list[int]] = {}
    errors = []
    engine = db.engine

    def worker(name):
        try:
            with Session(engine) as session:
                mine = taken.setdefault(name, [])
                for _ in range(60):
                    ops = queue.claim(session, name, limit=2)
                    if not ops:
                        break
                    mine.extend(op.id for op in ops)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    claimed = [op_id for ops in taken.values() for op_id in ops]
    assert sorted(claimed) == sorted(ids)  # every operation once, none twice
    db.session.rollback()  # a fresh snapshot (MariaDB's REPEATABLE READ)
    assert db.session.scalar(select(db.func.count()).select_from(Op).where(Op.status == Op.IN_PROGRESS)) == 30


@pytest.mark.parametrize("attempts,expected", [(1, 30), (2, 60), (3, 120), (20, 3600)])
def test_backoff_doubles_and_is_capped(attempts, expected):
    assert queue.DEFAULT_POLICY.delay(attempts).total_seconds() == expected


def test_a_claim_in_flight_leaves_the_other_due_operations_claimable(app):
    """Worker A has read and locked its candidate but not taken it yet; worker B claims meanwhile.

    B must get the other operation: on MariaDB a locking read under REPEATABLE READ locks every
    row it scans, so SKIP LOCKED made B skip rows A never meant to take, and B's drain found
    nothing (one of N operations stranded until the scheduler re-notified).
    """
    ids = {_enqueue(), _enqueue()}
    engine = db.engine
    # SQLite serialises claims (each holds the write lock from its BEGIN): A pauses before it.
    pause_at = "BEGIN" if engine.dialect.name == "sqlite" else "UPDATE"
    a_paused, b_done = threading.Event(), threading.Event()
    taken: dict[str, list[int]] = {}
    errors = []

    with Session(engine) as session_a:
        connection_a = session_a.connection()

        @event.listens_for(connection_a, "before_cursor_execute")
        def pause_before_taking(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(pause_at) and not a_paused.is_set():
                a_paused.set()
                b_done.wait(timeout=60)

        def worker_a():
            try:
                taken["A"] = [op.id for op in queue.claim(session_a, "A")]
            except Exception as exc:  # surfaced below
                errors.append(exc)

        thread = threading.Thread(target=worker_a)
        thread.start()
        try:
            assert a_paused.wait(timeout=60), "worker A never reached its take"
            with Session(engine) as session_b:
                taken["B"] = [op.id for op in queue.claim(session_b, "B")]
        finally:
            b_done.set()
            thread.join(timeout=60)
    assert not errors
    assert len(taken["A"]) == 1 and len(taken["B"]) == 1
    assert set(taken["A"]) | set(taken["B"]) == ids
