"""The scheduler: what is due, a fake-clock day of ticks, and one leader among several."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import SyncOperation, SyncRun, User
from app.models.types import utcnow
from app.sync.scheduler import JOB_ID, Scheduler, due_syncs, jitter, run_due_syncs, start_scheduler
from tests.fixtures.executors import RecordingExecutor
from tests.helpers import make_canvas_user

HOUR = timedelta(hours=1)
T0 = datetime(2026, 9, 1, 6, 0, tzinfo=timezone.utc)


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


def test_jitter_is_stable_bounded_and_spreads_users():
    interval = timedelta(minutes=15)
    delays = [jitter(user_id, interval, 0.2) for user_id in range(1, 101)]
    assert delays == [jitter(user_id, interval, 0.2) for user_id in range(1, 101)]
    assert all(timedelta(0) <= d < interval * 0.2 for d in delays)
    assert len({d.seconds // 18 for d in delays}) >= 8  # spread over most of the 3-minute window


def test_a_fake_day_fires_each_schedule_at_its_interval_without_overlap(app):
    """Ticks every 5 fake minutes for 30 hours; the 'workers' finish each run at once,
    except one run held queued for 40 minutes, which later ticks must join."""
    executor = app.extensions["sync_executor"]
    app.extensions["sync_executor"] = recorder = RecordingExecutor()
    users = [_user(f"u{i}@example.com") for i in range(3)]
    scheduler = Scheduler(app, owner="test-scheduler")
    interval, jitter_max = timedelta(minutes=app.config["SYNC_SCHEDULE_MINUTES"]), app.config["SYNC_SCHEDULE_JITTER"]
    held_until = T0 + 3 * HOUR + timedelta(minutes=40)
    try:
        for step in range(30 * 12):
            now = T0 + step * timedelta(minutes=5)
            db.session.rollback()  # hold no transaction while the scheduler works (its maintenance ANALYZEs)
            assert scheduler.tick(now) is not None  # the only scheduler leads
            db.session.rollback()  # a fresh snapshot (MariaDB reads repeatably within a transaction)
            for run in db.session.scalars(select(SyncRun).where(SyncRun.status == SyncRun.QUEUED)).all():
                if run.started_at > T0 + 31 * HOUR:  # just queued, stamped with the real clock
                    run.started_at = now
                if run.user_id == users[0] and T0 + 3 * HOUR <= now < held_until:
                    run.trigger = "held"  # a slow worker: still queued at the next ticks
                    db.session.commit()
                else:
                    _finish(run)
    finally:
        app.extensions["sync_executor"] = executor
    assert recorder.notified > 0
    for user_id in users:
        runs = db.session.scalars(select(SyncRun).where(SyncRun.user_id == user_id).order_by(SyncRun.id)).all()
        starts = [r.started_at for r in runs]
        gaps = [(a.trigger, b.started_at - a.started_at) for a, b in zip(runs, runs[1:])]
        slack = interval * jitter_max + timedelta(minutes=5)
        assert all(interval <= gap <= interval + slack for trigger, gap in gaps if trigger != "held"), gaps
        # nothing new started while a run was still queued: the next one came after it finished
        assert all(gap >= timedelta(minutes=40) for trigger, gap in gaps if trigger == "held")
        fulls = [r.started_at for r in runs if r.kind == "full"]
        assert fulls[0] == starts[0] == T0  # never synced: a full sync at once
        day = timedelta(hours=app.config["SYNC_FULL_PASS_HOURS"])
        assert len(fulls) == 2 and day <= fulls[1] - fulls[0] <= day * (1 + jitter_max) + timedelta(minutes=5)
    held_runs = db.session.scalars(select(SyncRun).where(SyncRun.trigger == "held")).all()
    assert len(held_runs) == 1  # ticks during those 40 minutes joined it instead of queuing another
    assert db.session.scalar(select(SyncOperation.id).where(SyncOperation.kind == "canvas_sync").limit(1))


def _finish(run: SyncRun) -> None:
    run.status, run.finished_at = SyncRun.SUCCEEDED, run.started_at
    db.session.get(User, run.user_id).last_synced_canvas = run.started_at
    from app.models import SyncLock

    db.session.execute(SyncLock.__table__.delete().where(SyncLock.run_id == run.id))
    db.session.commit()


def test_only_one_of_two_schedulers_leads_and_a_standby_takes_over(app):
    executor = app.extensions["sync_executor"]
    app.extensions["sync_executor"] = RecordingExecutor()
    try:
        _user("someone@example.com")
        first, second = Scheduler(app, owner="host-a:1"), Scheduler(app, owner="host-b:2")
        assert first.tick(T0) is not None and second.tick(T0) is None
        assert second.tick(T0 + timedelta(minutes=2)) is None  # the leader's beat is fresh
        assert first.tick(T0 + timedelta(minutes=1)) is not None
        # the leader stops beating: after three missed ticks the standby leads, and the old one stands by
        late = T0 + timedelta(minutes=1) + 3 * timedelta(seconds=app.config["SYNC_TICK_SECONDS"]) + timedelta(seconds=1)
        assert second.tick(late) is not None
        assert first.tick(late + timedelta(seconds=1)) is None
    finally:
        app.extensions["sync_executor"] = executor


def test_tick_queues_due_syncs_that_complete(app, canvas_sandbox):
    user_id = make_canvas_user(canvas_sandbox).id
    run_ids = run_due_syncs(app)
    assert len(run_ids) == 1
    app.extensions["sync_executor"].wait_idle(timeout=30)
    db.session.rollback()
    run = db.session.get(SyncRun, run_ids[0])
    assert run.status == SyncRun.SUCCEEDED and run.trigger == "schedule" and run.kind == "full"
    op = db.session.scalar(select(SyncOperation).where(SyncOperation.user_id == user_id))
    assert op.status == SyncOperation.COMPLETED and op.result == {"run_id": run.id, "status": "succeeded"}
    assert run_due_syncs(app) == []  # just synced: nothing due
    assert db.session.scalar(select(User.last_synced_canvas).where(User.id == user_id)) is not None


def test_scheduler_has_one_job_however_often_started(app):
    scheduler = start_scheduler(app, run_now=False)
    try:
        assert start_scheduler(app, run_now=False) is scheduler
        jobs = scheduler.get_jobs()
        assert [job.id for job in jobs] == [JOB_ID]
        assert jobs[0].trigger.interval == timedelta(seconds=app.config["SYNC_TICK_SECONDS"])
        assert jobs[0].max_instances == 1 and jobs[0].coalesce
    finally:
        app.extensions.pop("sync_scheduler").shutdown(wait=False)


def test_scheduler_can_be_switched_off(app):
    app.config["SYNC_SCHEDULE_ENABLED"] = False
    try:
        assert start_scheduler(app) is None
    finally:
        app.config["SYNC_SCHEDULE_ENABLED"] = True
