"""Worker processes (`flask queue work`) draining one queue on a real database server.

Real processes, the real CLI, the database of the `app` fixture and the sandbox Canvas
of this test process: two workers never run one operation or one user's sync twice,
and a worker killed with SIGKILL mid-sync loses nothing: its operation is claimed again
when its lease runs out and the sync completes.
"""
from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SyncOperation, SyncRun
from app.sync import queue
from app.sync.jobs.canvas_sync import CANVAS_SYNC, start_or_join
from tests.fixtures.workers import database_url, start_worker, worker_env
from tests.helpers import make_canvas_user, snapshot

SLOW_CANVAS = {"courses": 6, "assignments": 10, "students": 12, "seed": 5, "latency_ms": 40}


def operations() -> list[SyncOperation]:
    db.session.rollback()
    return db.session.scalars(select(SyncOperation).order_by(SyncOperation.id)).all()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.timeout(180)
def test_two_workers_never_run_an_operation_or_a_user_twice(app, make_canvas_sandbox):
    sb = make_canvas_sandbox(**{**SLOW_CANVAS, "latency_ms": 10})
    users = [make_canvas_user(sb, email=f"w{i}@example.com") for i in range(4)]
    runs = [start_or_join(user.id, trigger="cli", notify=False)[0] for user in users]
    # Duplicate deliveries of two users' syncs (a re-sent message, a second trigger that
    # got through): both workers may claim them, only one may run the sync.
    for run in runs[:2]:
        queue.enqueue(db.session, CANVAS_SYNC, user_id=run.user_id, payload={"run_id": run.id, "incremental": True})
    assert start_or_join(users[0].id, trigger="button", notify=False)[1]  # a click joins the queued run

    env = worker_env(database_url())
    workers = [start_worker(env, "--burst") for _ in range(2)]
    outputs = [w.communicate(timeout=150)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), "\n".join(o[-3000:] for o in outputs)

    ops = operations()
    assert len(ops) == 6 and all(op.status == SyncOperation.COMPLETED and op.attempts == 1 for op in ops)
    executed = [op.result["run_id"] for op in ops if "status" in op.result]
    assert sorted(executed) == sorted(run.id for run in runs)  # each run carried out exactly once
    assert sum("skipped" in op.result for op in ops) == 2
    for run in runs:
        assert db.session.get(SyncRun, run.id).status == SyncRun.SUCCEEDED
    assert db.session.scalar(select(SyncRun.id).where(SyncRun.id.not_in([r.id for r in runs]))) is None
    first = snapshot(users[0].id)
    assert first["submissions"] and all(snapshot(user.id) == first for user in users[1:])


@pytest.mark.timeout(180)
def test_a_worker_killed_mid_sync_loses_nothing(app, make_canvas_sandbox):
    sb = make_canvas_sandbox(**SLOW_CANVAS)
    ref = make_canvas_user(sb, email="ref@example.com")
    start_or_join(ref.id, trigger="cli", notify=False)
    env = worker_env(database_url(), SYNC_QUEUE_LEASE_S="3", SYNC_COURSE_WORKERS="1")  # courses one by one
    reference = start_worker(env, "--burst")
    assert reference.wait(timeout=120) == 0
    expected = snapshot(ref.id)

    user = make_canvas_user(sb, email="killed@example.com")
    run, _ = start_or_join(user.id, trigger="cli", notify=False)
    doomed = start_worker(env)
    try:
        wait_for(lambda: (db.session.rollback(), db.session.get(SyncRun, run.id).progress_current >= 1)[1],
                 60, "the sync to write its first course")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    op = operations()[-1]
    assert op.status == SyncOperation.IN_PROGRESS and db.session.get(SyncRun, run.id).status == SyncRun.RUNNING

    rescuer = start_worker(env)
    try:
        done = wait_for(lambda: [o for o in operations() if o.id == op.id and o.status == SyncOperation.COMPLETED],
                        90, "the operation to complete after its lease expired")
    finally:
        rescuer.terminate()
        rescuer.wait(timeout=10)
    assert done[0].attempts == 2 and done[0].result == {"run_id": run.id, "status": "succeeded"}
    assert db.session.get(SyncRun, run.id).status == SyncRun.SUCCEEDED
    assert snapshot(user.id) == expected
