"""Run syncs off the request thread.

The job is one plain function of ids (`run_sync_job`); the bounded thread pool here
is a thin adapter around it, as a Celery task would be.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app

from app.extensions import db
from app.models import SyncRun, User
from app.models.types import utcnow
from app.services import sync_runs
from app.services.canvas_sync_service import create_canvas_sync_service

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.extensions["sync_executor"] = ThreadPoolExecutor(
        max_workers=app.config["SYNC_THREAD_POOL_SIZE"], thread_name_prefix="sync-job")


def request_sync(user_id: int, *, trigger: str = "button", incremental: bool = True) -> SyncRun:
    """Start a sync of the user in the background and return its run at once.

    When the user already has a sync running, that run is returned instead (join).
    """
    return start_or_join(user_id, trigger=trigger, incremental=incremental)[0]


def start_or_join(user_id: int, *, trigger: str = "button", incremental: bool = True) -> tuple[SyncRun, bool]:
    """Like request_sync, also telling whether the run was joined rather than started."""
    user = db.session.get(User, user_id)
    kind = "incremental" if incremental and user.last_synced_canvas else "full"
    run, started = sync_runs.start_run(db.session, user_id, trigger=trigger, kind=kind)
    if started:
        app = current_app._get_current_object()
        app.extensions["sync_executor"].submit(_in_app_context, app, user_id, run.id, incremental)
    return run, not started


def get_active_run(user_id: int) -> SyncRun | None:
    return sync_runs.active_run(db.session, user_id)


def _in_app_context(app: Flask, user_id: int, run_id: int, incremental: bool) -> None:
    with app.app_context():
        try:
            run_sync_job(user_id, run_id, incremental=incremental)
        finally:
            db.session.remove()


def run_sync_job(user_id: int, run_id: int, *, incremental: bool = True) -> None:
    """Carry out a run that `request_sync` started (and whose lock it holds)."""
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
