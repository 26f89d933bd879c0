"""A queued Canvas sync past SYNC_MAX_RUN_SECONDS: the run fails in plain words, the operation
ends (its lease is no longer renewed), the user's lock is free and the next run starts normally."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import SyncOperation, SyncRun
from app.sync import queue
from app.sync.jobs.canvas_sync import CANVAS_SYNC, start_or_join
from tests.helpers import make_canvas_user


def test_a_queued_sync_past_its_time_limit_ends_and_the_next_starts(app, make_canvas_sandbox, monkeypatch):
    sb = make_canvas_sandbox(latency_ms=150)
    user = make_canvas_user(sb)
    monkeypatch.setitem(app.config, "SYNC_MAX_RUN_SECONDS", 0.5)
    run, joined = start_or_join(user.id, trigger="cli", incremental=False, notify=False)
    assert not joined
    assert queue.process_available(db.session, "worker-1", kinds=[CANVAS_SYNC]) == 1
    db.session.expire_all()
    run = db.session.get(SyncRun, run.id)
    assert run.status == SyncRun.FAILED
    assert run.error == "The sync ran longer than its limit (0.5 s) and was stopped; the next run starts normally."
    op = db.session.scalar(select(SyncOperation).where(SyncOperation.kind == CANVAS_SYNC))
    assert op.status == SyncOperation.COMPLETED and op.lease_expires_at is None  # nothing renews it any more

    monkeypatch.setitem(app.config, "SYNC_MAX_RUN_SECONDS", 3600)
    sb.latency_ms = 0  # the slowness was only there to outlast the limit
    second, joined = start_or_join(user.id, trigger="cli", incremental=False, notify=False)
    assert not joined and second.id != run.id  # the lock was released
    assert queue.process_available(db.session, "worker-1", kinds=[CANVAS_SYNC]) == 1
    db.session.expire_all()
    assert db.session.get(SyncRun, second.id).status == SyncRun.SUCCEEDED
