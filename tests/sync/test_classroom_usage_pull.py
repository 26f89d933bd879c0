"""Classroom usage by date as a scheduled queue operation ("classroom_usage") over real HTTP, on every backend."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ClassroomUsage, SyncOperation, User, UserConnection
from app.models.types import utcnow
from app.sync import queue
from app.sync.jobs.classroom_usage import CLASSROOM_USAGE
from app.sync.scheduler import Scheduler, due_usage_pulls, run_due_usage_pulls
from tests.fixtures.executors import RecordingExecutor

START = date(2026, 8, 24)
TODAY = START + timedelta(days=60)  # the sandbox's "today"; with a one-day lag Google has data through TODAY - 1


@pytest.fixture
def usage_sandbox(make_classroom_sandbox, app):
    sb = make_classroom_sandbox(today=TODAY, usage_lag_days=1, usage_users=3)
    app.config.update(CLASSROOM_SCHOOL_YEAR_START=START.isoformat(), CLASSROOM_USAGE_WINDOW_DAYS=7,
                      CLASSROOM_USAGE_WINDOWS_PER_RUN=4, CLASSROOM_REPORTS_URL=sb.base_url)
    return sb


def connect(sb, token: str | None = None, email: str = "admin@school.example") -> int:
    user = User(email=email, password_hash="x")
    db.session.add(user)
    db.session.flush()
    connection = UserConnection(user_id=user.id, system="classroom", base_url=sb.base_url)
    connection.set_credentials({"access_token": token or sb.token}, hint_from="access_token")
    db.session.add(connection)
    db.session.commit()
    return connection.id


def scheduled_run(app) -> SyncOperation | None:
    """What one scheduler tick queues for usage, run by a worker."""
    ops = run_due_usage_pulls(app)
    if not ops:
        return None
    assert len(ops) == 1
    queue.process_available(db.session, worker_id="usage-test", kinds=[CLASSROOM_USAGE], max_operations=1)
    db.session.expire_all()
    return db.session.get(SyncOperation, ops[0])


def stored_dates(connection_id: int) -> list[date]:
    user_id = db.session.get(UserConnection, connection_id).user_id
    return list(db.session.scalars(select(ClassroomUsage.as_of_date).where(ClassroomUsage.user_id == user_id)
                                   .group_by(ClassroomUsage.as_of_date).order_by(ClassroomUsage.as_of_date)))


def usage_requests(sb) -> list[date]:
    return [date.fromisoformat(e.path.rsplit("/", 1)[1]) for e in sb.requests("/admin/reports/v1/usage/")]


def test_queued_runs_catch_up_in_bounded_runs_then_fetch_only_new_dates(app, usage_sandbox):
    sb = usage_sandbox
    connection_id = connect(sb)
    days = [START + timedelta(days=i) for i in range(60)]  # START .. TODAY - 1

    first = scheduled_run(app)
    assert first.status == SyncOperation.COMPLETED, first.error_message
    assert first.kind == CLASSROOM_USAGE and first.result["caught_up"] is False
    assert stored_dates(connection_id) == days[:28]  # four windows of seven days, the rest next run
    state = db.session.get(UserConnection, connection_id).state["usage"]
    assert state["ok"] and not state["caught_up"] and "28 dates, through 2026-09-20" in state["message"]

    sb.clear_log()
    second = scheduled_run(app)  # still behind: due again at the next tick
    assert second.status == SyncOperation.COMPLETED and stored_dates(connection_id) == days[:56]
    assert usage_requests(sb) == days[28:56]
    third = scheduled_run(app)
    assert third.result["caught_up"] is True and stored_dates(connection_id) == days
    assert db.session.scalar(select(func.count()).select_from(ClassroomUsage)) == 60 * 3
    assert run_due_usage_pulls(app) == []  # caught up: nothing due until CLASSROOM_USAGE_HOURS pass

    # A day later Google has published three more dates: the next run fetches only those.
    sb.mutate("advance_days", days=3)
    sb.clear_log()
    later = utcnow() + timedelta(hours=app.config["CLASSROOM_USAGE_HOURS"], minutes=1)
    assert due_usage_pulls(db.session, later, interval=timedelta(hours=24)) == [connection_id]
    ops = run_due_usage_pulls(app, later)
    queue.process_available(db.session, worker_id="usage-test", kinds=[CLASSROOM_USAGE], max_operations=1)
    db.session.expire_all()
    assert db.session.get(SyncOperation, ops[0]).status == SyncOperation.COMPLETED
    new = [TODAY + timedelta(days=i) for i in range(3)]
    assert usage_requests(sb) == [*new, TODAY + timedelta(days=3)]  # the last one: not yet available
    assert stored_dates(connection_id) == days + new
    # The pull's own state (Classroom bookmarks) and the usage outcome live side by side.
    assert db.session.get(UserConnection, connection_id).state["usage"]["through"] == new[-1].isoformat()


def test_a_teachers_token_is_refused_in_plain_words_without_failing_the_connection(app, usage_sandbox):
    sb = usage_sandbox
    connection_id = connect(sb, token=sb.teacher_token)
    op = scheduled_run(app)
    assert op.status == SyncOperation.FAILED  # permanent: no retries
    connection = db.session.get(UserConnection, connection_id)
    message = connection.state["usage"]["message"]
    assert connection.state["usage"]["ok"] is False and "administrator" in message
    assert sb.teacher_token not in message and sb.teacher_token not in (op.error_message or "")
    assert connection.status == UserConnection.NEW  # the Classroom pull's own status is untouched
    assert stored_dates(connection_id) == []
    assert run_due_usage_pulls(app) == []  # a refusal waits a day, not every tick


def test_nothing_is_queued_without_a_school_year_start_and_the_tick_queues_it_with(app, usage_sandbox):
    connect(usage_sandbox)
    app.config["CLASSROOM_SCHOOL_YEAR_START"] = ""
    assert run_due_usage_pulls(app) == []
    app.config["CLASSROOM_SCHOOL_YEAR_START"] = START.isoformat()
    executor, app.extensions["sync_executor"] = app.extensions.get("sync_executor"), RecordingExecutor()
    try:
        assert Scheduler(app).tick() is not None
    finally:
        app.extensions["sync_executor"] = executor
    db.session.rollback()  # the tick's daily maintenance analyzes the tables (MariaDB: a new snapshot)
    kinds = db.session.scalars(select(SyncOperation.kind)).all()
    assert kinds.count(CLASSROOM_USAGE) == 1 and kinds.count("source_pull") == 1


def test_a_mistyped_school_year_start_is_reported_in_plain_words(app, usage_sandbox):
    connection_id = connect(usage_sandbox)
    app.config["CLASSROOM_SCHOOL_YEAR_START"] = "24/08/2026"
    op = scheduled_run(app)
    assert op.status == SyncOperation.FAILED
    message = db.session.get(UserConnection, connection_id).state["usage"]["message"]
    assert "CLASSROOM_SCHOOL_YEAR_START must be a date like" in message and "24/08/2026" in message
