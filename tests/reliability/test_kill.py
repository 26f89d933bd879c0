"""A sync process killed with SIGKILL at random points: a re-run converges to the clean database.

Each trial starts `flask --app run canvas sync --email E` in a subprocess (the real CLI, the
real database file/server, the sandbox Canvas of this test process with some latency), kills
it at a point chosen by observed progress, checks what the kill left behind (no half-written
course, no duplicate), then re-runs the CLI to completion and compares with a clean run.

Kills are placed by what the database shows, never by a delay (a delay measured on an idle
machine lands after the end on a loaded one): a start-up kill lands once the run row exists;
a mid-sync kill once a random number of courses is committed, while the sandbox holds one
course's requests open, so the sync cannot have finished when the signal arrives.

The killed process leaves its per-user lock row behind. The re-run must not wait out the
lock's 10-minute TTL: the owner string names this host and the dead pid, so the lock is
taken over at once (app/services/sync_runs.py, `holder_is_dead`).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Assignment, Course, Submission, SyncLock, SyncRun
from tests.helpers import make_canvas_user, snapshot

ROOT = Path(__file__).resolve().parents[2]
DATA = {"courses": 5, "assignments": 12, "students": 20, "seed": 17, "latency_ms": 30}
TRIALS = {"sqlite": 10, "mysql": 3, "mariadb": 3, "postgresql": 3}


def cli_env(database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANVAS", "TOKEN_ENCRYPTION", "SYNC_"))}
    env.update(DATABASE_URL=database_url, SECRET_KEY="test-secret-key", CANVASFLOW_ENV="development",
               CANVAS_PER_PAGE="20", CANVAS_TIMEOUT_S="10", PYTHONUNBUFFERED="1")
    return env


def start_sync(email: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "canvas", "sync", "--email", email],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_status(user_id: int) -> str | None:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT status FROM sync_run WHERE user_id = :u ORDER BY id DESC LIMIT 1"),
                            {"u": user_id}).scalar()


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 60.0):
    """Poll `condition()` until it is truthy (its value) or the process ended or the deadline passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert proc.poll() is None, f"the sync ended before {what}: {proc.stdout.read()[-2000:]}"
        time.sleep(0.01)
    raise AssertionError(f"no {what} within {timeout} s")


def per_course_counts(user_id: int) -> dict[int, tuple[int, int]]:
    """{canvas course id: (live assignments, live submissions)} of the user's courses."""
    db.session.rollback()
    courses = dict(db.session.execute(select(Course.id, Course.canvas_course_id).where(Course.user_id == user_id)).all())
    assignments = Counter(db.session.scalars(select(Assignment.course_id).where(
        Assignment.course_id.in_(courses), Assignment.deleted_at.is_(None))).all())
    submissions = Counter(db.session.scalars(select(Submission.course_id).where(
        Submission.course_id.in_(courses), Submission.deleted_at.is_(None))).all())
    return {cid: (assignments[local], submissions[local]) for local, cid in courses.items()}


def duplicates() -> int:
    dup = 0
    for model, key in ((Course, (Course.user_id, Course.canvas_course_id)),
                       (Assignment, (Assignment.course_id, Assignment.canvas_assignment_id)),
                       (Submission, (Submission.course_id, Submission.canvas_submission_id))):
        dup += db.session.scalar(select(func.count()).select_from(
            select(*key).group_by(*key).having(func.count() > 1).subquery()))
    return dup


@pytest.mark.timeout(240)
def test_sigkill_at_random_points_then_rerun_converges(app, make_canvas_sandbox, backend):
    sb = make_canvas_sandbox(**DATA)
    env = cli_env(db.engine.url.render_as_string(hide_password=False))
    rng = random.Random(20261123)

    ref = make_canvas_user(sb, email="ref@example.com")
    proc = start_sync(ref.email, env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    db.session.rollback()
    expected = snapshot(ref.id)
    complete = per_course_counts(ref.id)
    assert len(complete) == DATA["courses"] and all(s > 0 for _, s in complete.values())

    held_course = min(sb.data.courses)
    mid_sync_kills = taken_over = mid_sync_trials = 0
    for trial in range(TRIALS[backend]):
        user = make_canvas_user(sb, email=f"killed{trial}@example.com")
        at_start_up = trial % 5 == 0
        if not at_start_up:  # its requests wait: whatever else is committed, this course cannot be
            sb.hold(f"/api/v1/courses/{held_course}/")
        proc = start_sync(user.email, env)
        try:
            if at_start_up:  # the CLI is up and took the lock; nothing of the sync is written yet
                wait_for(lambda: run_status(user.id), proc, "a sync run row")
            else:
                mid_sync_trials += 1
                committed = rng.randint(1, DATA["courses"] - 1)
                wait_for(lambda: len(per_course_counts(user.id)) >= committed and sb.held, proc,
                         f"{committed} committed course(s)")
            was_running = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            sb.release()
            proc.kill()
        proc.stdout.close()

        # What the kill left: whole courses only, no duplicates, maybe a stale lock.
        partial = per_course_counts(user.id)
        for cid, counts in partial.items():
            assert counts == complete[cid], f"trial {trial}: course {cid} half-written {counts} != {complete[cid]}"
        assert duplicates() == 0
        if not at_start_up and was_running and run_status(user.id) == SyncRun.RUNNING \
                and len(partial) < len(complete):
            mid_sync_kills += 1

        rerun_started = time.monotonic()
        proc = start_sync(user.email, env)
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, f"trial {trial}: {out[-2000:]}"
        assert "already running" not in out, f"trial {trial}: the dead process's lock blocked the re-run"
        assert time.monotonic() - rerun_started < 60
        db.session.rollback()
        assert snapshot(user.id) == expected, f"trial {trial}"
        assert per_course_counts(user.id) == complete
        assert duplicates() == 0
        runs = db.session.execute(select(SyncRun.status, SyncRun.error).where(SyncRun.user_id == user.id)
                                  .order_by(SyncRun.id)).all()
        assert runs[-1][0] == SyncRun.SUCCEEDED
        assert all(status != SyncRun.RUNNING for status, _ in runs), runs
        for status, error in runs[:-1]:  # the killed run is marked failed (unless it had already finished)
            assert status == SyncRun.SUCCEEDED or (status == SyncRun.FAILED and "stopped unexpectedly" in error), \
                (status, error)
        if len(runs) > 1 and runs[0][0] == SyncRun.FAILED:
            taken_over += 1
        assert db.session.scalar(select(func.count()).select_from(SyncLock).where(SyncLock.user_id == user.id)) == 0

    # every mid-sync kill really hit a sync in the middle
    assert mid_sync_kills == mid_sync_trials, (mid_sync_kills, mid_sync_trials)
    assert taken_over >= mid_sync_kills  # each of those left a lock the re-run took over at once
