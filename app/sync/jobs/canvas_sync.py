"""Canvas syncs as queue operations.

A request (button, admin, schedule, CLI with --queue) creates the user's run in state
"queued", holding the user's lock, and an operation of kind `canvas_sync` naming it; the
executor is told and a worker carries it out (`canvas_sync_operation`, registered in jobs/__init__.py). A second request
while the run waits or runs joins it: the lock row is the atomic "one sync per user"
across web workers and machines, so no queue-level dedupe is needed.
"""
from __future__ import annotations

import logging

from flask import current_app

from app.extensions import db
from app.models import SyncOperation, SyncRun, User
from app.models.types import utcnow
from app.services import sync_runs
from app.services.canvas_bookmarks import can_sync_incrementally
from app.services.canvas_sync_service import create_canvas_sync_service
from app.sync import queue

log = logging.getLogger(__name__)

CANVAS_SYNC = "canvas_sync"
# A click outranks the scheduler: both wait in one queue.
PRIORITY = {"button": 10, "admin": 10, "cli": 5}


def request_sync(user_id: int, *, trigger: str = "button", incremental: bool = True) -> SyncRun:
    """Queue a sync of the user and return its run at once (the running one, if any)."""
    return start_or_join(user_id, trigger=trigger, incremental=incremental)[0]


def start_or_join(user_id: int, *, trigger: str = "button", incremental: bool = True,
                  notify: bool = True) -> tuple[SyncRun, bool]:
    """Like request_sync, also telling whether the run was joined rather than started."""
    user = db.session.get(User, user_id)
    kind = "incremental" if incremental and can_sync_incrementally(db.session, user) else "full"
    run, started = sync_runs.start_run(db.session, user_id, trigger=trigger, kind=kind, status=SyncRun.QUEUED)
    if started:
        queue.submit(db.session, CANVAS_SYNC, entity_type="user", entity_id=user_id, user_id=user_id,
                     source_system="canvas", target_system="local", priority=PRIORITY.get(trigger, 0),
                     payload={"run_id": run.id, "incremental": incremental},
                     policy=queue.RetryPolicy.from_config(current_app.config), notify=notify)
    return run, not started


def get_active_run(user_id: int) -> SyncRun | None:
    return sync_runs.active_run(db.session, user_id)


def canvas_sync_operation(op: SyncOperation) -> dict:
    """Carry out the queued run named by the operation (also after an earlier worker died)."""
    payload = op.payload
    run = db.session.get(SyncRun, payload["run_id"])
    if run is None or run.is_finished:
        return {"run_id": payload["run_id"], "skipped": "the run had already finished"}
    if not sync_runs.adopt(db.session, run):
        return {"run_id": run.id, "skipped": "a newer sync of this user took over"}
    run_sync_job(run.user_id, run.id, incremental=payload.get("incremental", True))
    run = db.session.get(SyncRun, payload["run_id"])
    return {"run_id": run.id, "status": run.status}


def run_sync_job(user_id: int, run_id: int, *, incremental: bool = True) -> None:
    """Carry out a run that holds the user's lock (a worker adopted it)."""
    run = db.session.get(SyncRun, run_id)
    user = db.session.get(User, user_id)
    try:
        service = create_canvas_sync_service(user)
    except Exception as exc:  # no token, undecryptable token...
        log.warning("event=sync_not_started user_id=%s run_id=%s error=%s", user_id, run_id, type(exc).__name__)
        sync_runs.finish_run(db.session, run, status=SyncRun.FAILED, counts={"error_kind": "invalid_token"},
                             stats={}, error=str(exc))
        return
    try:
        service.sync_all_data(use_incremental=incremental, trigger=run.trigger, run=run)
    except Exception:
        log.exception("event=sync_job_crash user_id=%s run_id=%s", user_id, run_id)
        db.session.rollback()
        run = db.session.get(SyncRun, run_id)
        if run is not None and run.status == SyncRun.RUNNING:
            run.finished_at = utcnow()
            sync_runs.finish_run(db.session, run, status=SyncRun.FAILED, counts={"error_kind": "other"}, stats={},
                                 error="The sync failed unexpectedly.")
    finally:
        service.api.close()
