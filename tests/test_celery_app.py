"""A Celery worker started by the test runs a real sync of a sandbox user, end to end.

The web side is an app with SYNC_EXECUTOR=celery on the test database: a click queues
the run and sends a task through Redis; `celery -A app.celery_app worker` (a separate
process) claims the operation from the database and syncs from the sandbox Canvas.
"""
from __future__ import annotations

import secrets
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SyncOperation, SyncRun
from app.sync.executors import CeleryExecutor, get_executor
from app.sync.jobs.canvas_sync import start_or_join
from tests.conftest import make_test_app
from tests.helpers import make_canvas_user, stop_process, snapshot
from tests.sync.test_workers import ROOT, database_url, worker_env


@pytest.fixture
def celery_worker(app, redis_url):
    queue_name = f"canvasflow-test-{secrets.token_hex(4)}"
    env = worker_env(database_url(), CELERY_BROKER_URL=redis_url, CELERY_TASK_QUEUE=queue_name,
                     SYNC_EXECUTOR="celery")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "app.celery_app", "worker", "--pool=solo", "--concurrency=1",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
