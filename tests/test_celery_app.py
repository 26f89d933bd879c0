"""A Celery worker started by the test runs a real sync of a sandbox user, end to end.

The web side is an app with SYNC_EXECUTOR=celery on the test database: a click queues
the run and sends a task through Redis; `celery -A app.celery_app worker` (a separate
process) claims the operation from the database and syncs from the sandbox Canvas.
"""
from __future__ import annotations

import secrets
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SyncOperation, SyncRun
from app.sync.executors import CeleryExecutor, get_executor
from app.sync.jobs.canvas_sync import start_or_join
from tests.conftest import make_test_app
from tests.helpers import make_canvas_user, stop_process, snapshot
from tests.fixtures.workers import database_url, start_celery_worker, worker_env


@pytest.fixture
def celery_worker(app, redis_url):
    queue_name = f"canvasflow-test-{secrets.token_hex(4)}"
    env = worker_env(database_url(), CELERY_BROKER_URL=redis_url, CELERY_TASK_QUEUE=queue_name,
                     SYNC_EXECUTOR="celery")
    proc = start_celery_worker(env)
    yield proc, queue_name
    stop_process(proc)


@pytest.mark.timeout(120)
def test_a_celery_worker_runs_a_real_sync(app, celery_worker, canvas_sandbox, redis_url):
    proc, queue_name = celery_worker
    web = make_test_app(database_url(), SYNC_EXECUTOR="celery", CELERY_BROKER_URL=redis_url,
                        CELERY_TASK_QUEUE=queue_name)
    assert isinstance(get_executor(web), CeleryExecutor)
    user = make_canvas_user(canvas_sandbox)
    with web.app_context():
        run, joined = start_or_join(user.id, trigger="button")
        run_id = run.id
        db.session.remove()
    assert not joined
    deadline = time.monotonic() + 90
    status = None
    while time.monotonic() < deadline and proc.poll() is None:
        db.session.rollback()
        status = db.session.scalar(select(SyncRun.status).where(SyncRun.id == run_id))
        if status in SyncRun.FINISHED_STATES:
            break
        time.sleep(0.2)
    assert status == SyncRun.SUCCEEDED, proc.stdout.read() if proc.poll() is not None else status
    # The worker finishes the run, then marks its operation completed: wait for the second commit.
    while True:
        db.session.rollback()
        op = db.session.scalar(select(SyncOperation).where(SyncOperation.user_id == user.id))
        if op.status == SyncOperation.COMPLETED or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert op.status == SyncOperation.COMPLETED and op.worker_id.split(":")[1] == str(proc.pid)
    assert snapshot(user.id)["submissions"]


ROUNDS = {"sqlite": 3, "mysql": 20, "mariadb": 20, "postgresql": 20}


@pytest.fixture
def two_celery_workers(app, redis_url, tmp_path):
    """Two worker processes with two slots each, on one fresh queue of the broker; their logs."""
    queue_name = f"canvasflow-test-{secrets.token_hex(4)}"
    env = worker_env(database_url(), CELERY_BROKER_URL=redis_url, CELERY_TASK_QUEUE=queue_name,
                     SYNC_EXECUTOR="celery", CANVAS_TIMEOUT_S="30")
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    procs = [start_celery_worker(env, pool="threads", concurrency=2, log=log) for log in logs]
    yield procs, queue_name, [tmp_path / f"worker{i}.log" for i in range(2)]
    for proc, log in zip(procs, logs):
        stop_process(proc)
        log.close()


@pytest.mark.timeout(900)
def test_as_many_operations_as_worker_slots_all_run_with_no_scheduler(app, two_celery_workers, make_canvas_sandbox,
                                                                       redis_url, backend):
    """Four syncs queued together, four notifications, four slots: every round runs all four.

    No scheduler runs, so an operation a drain failed to claim would stay pending for good
    (on MariaDB one did in about half the rounds before claims stopped locking whole ranges).
    """
    procs, queue_name, logs = two_celery_workers

    def worker_logs() -> str:
        lines = [line for path in logs for line in path.read_text().splitlines()
                 if "Task " in line or "ERROR" in line or "WARNING" in line or "drain" in line
                 or "Traceback" in line or "Error" in line]
        return "\n".join(lines[-40:])
    sb = make_canvas_sandbox(courses=1, assignments=2, students=2, seed=3)
    users = [make_canvas_user(sb, email=f"slot{i}@example.com") for i in range(4)]
    web = make_test_app(database_url(), SYNC_EXECUTOR="celery", CELERY_BROKER_URL=redis_url,
                        CELERY_TASK_QUEUE=queue_name)
    for round_number in range(ROUNDS[backend]):
        with web.app_context():
            run_ids = [start_or_join(user.id, trigger="button")[0].id for user in users]
            db.session.remove()
        deadline = time.monotonic() + 60
        while True:
            db.session.rollback()
            ops = db.session.scalars(select(SyncOperation).where(
                SyncOperation.payload_json.is_not(None))).all()
            mine = [op for op in ops if op.payload["run_id"] in run_ids]
            if len(mine) == 4 and all(op.status == SyncOperation.COMPLETED for op in mine):
                break
            assert all(proc.poll() is None for proc in procs), worker_logs()
            assert time.monotonic() < deadline, (
                f"round {round_number}: " + ", ".join(f"op {op.id} {op.status} attempts={op.attempts}" for op in mine)
                + "\n" + worker_logs())
            time.sleep(0.05)
        statuses = db.session.scalars(select(SyncRun.status).where(SyncRun.id.in_(run_ids))).all()
        assert statuses == [SyncRun.SUCCEEDED] * 4, (round_number, statuses)
