from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import SyncRun, User
from app.models.types import utcnow
from app.sync.scheduler import JOB_ID, due_syncs, run_due_syncs, start_scheduler
from tests.helpers import make_canvas_user

HOUR = timedelta(hours=1)


def _run(user_id, *, kind, status, ago):
    started = utcnow() - ago
    db.session.add(SyncRun(user_id=user_id, kind=kind, status=status, started_at=started, finished_at=started))
    db.session.commit()


def _user(email, connected=True):
    user = User(email=email, password_hash="x")
    if connected:
        user.canvas_base_url, user.canvas_token = "https://canvas.example.com", "tok-1234"
    db.session.add(user)
    db.session.commit()
    return user.id


def test_due_syncs_pick_incremental_or_full(app):
    never = _user("never@example.com")
    recent = _user("recent@example.com")
    stale = _user("stale@example.com")
    no_full = _user("nofull@example.com")
    _user("unconnected@example.com", connected=False)
    _run(recent, kind="incremental", status="succeeded", ago=timedelta(minutes=5))
    _run(stale, kind="full", status="succeeded", ago=2 * HOUR)
    _run(no_full, kind="incremental", status="succeeded", ago=2 * HOUR)
    _run(no_full, kind="full", status="succeeded", ago=48 * HOUR)
    due = due_syncs(db.session, utcnow(), interval=timedelta(minutes=30), full_every=24 * HOUR)
    assert due == [(never, False), (stale, True), (no_full, False)]


def test_tick_starts_due_syncs_that_complete(app, canvas_sandbox):
    user_id = make_canvas_user(canvas_sandbox).id
    run_ids = run_due_syncs(app)
    assert len(run_ids) == 1
    app.extensions["sync_executor"].submit(lambda: None).result(timeout=30)  # the queue drains in order
    deadline = utcnow() + timedelta(seconds=30)
    while utcnow() < deadline:
        db.session.rollback()
        run = db.session.get(SyncRun, run_ids[0])
        if run.is_finished:
            break
    assert run.status == SyncRun.SUCCEEDED and run.trigger == "schedule" and run.kind == "full"
    assert run_due_syncs(app) == []  # just synced: nothing due
    assert db.session.scalar(select(User.last_synced_canvas).where(User.id == user_id)) is not None


def test_scheduler_has_one_job_however_often_started(app):
    scheduler = start_scheduler(app, run_now=False)
    try:
        assert start_scheduler(app, run_now=False) is scheduler
        jobs = scheduler.get_jobs()
        assert [job.id for job in jobs] == [JOB_ID]
        assert jobs[0].trigger.interval == timedelta(minutes=app.config["SYNC_SCHEDULE_MINUTES"])
    finally:
        app.extensions.pop("sync_scheduler").shutdown(wait=False)


def test_scheduler_can_be_switched_off(app):
    app.config["SYNC_SCHEDULE_ENABLED"] = False
    try:
        assert start_scheduler(app) is None
    finally:
        app.config["SYNC_SCHEDULE_ENABLED"] = True
