"""Scheduled background syncs with APScheduler, in the serving process.

One job with a fixed id, so starting the scheduler twice replaces instead of doubling
it. Each tick asks the runner for a sync of every connected user whose last run is
older than the interval: incremental, or a full pass when the last successful full
run is older than SYNC_FULL_PASS_HOURS (the only way Canvas reveals deletions and
late/missing flags that moved with time). The per-user lock keeps ticks and button
clicks from overlapping.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import SyncRun, User
from app.models.types import utcnow
from app.sync.runner import request_sync

log = logging.getLogger(__name__)

JOB_ID = "canvas-sync-due-users"


def due_syncs(session: Session, now: datetime, *, interval: timedelta, full_every: timedelta) -> list[tuple[int, bool]]:
    """(user id, incremental?) for every connected user due for a sync."""
    last_run = (select(SyncRun.user_id, func.max(SyncRun.started_at).label("at"))
                .group_by(SyncRun.user_id).subquery())
    last_full = (select(SyncRun.user_id, func.max(SyncRun.started_at).label("at"))
                 .where(SyncRun.kind == "full", SyncRun.status == SyncRun.SUCCEEDED)
                 .group_by(SyncRun.user_id).subquery())
    rows = session.execute(
        select(User.id, last_run.c.at, last_full.c.at)
        .outerjoin(last_run, last_run.c.user_id == User.id)
        .outerjoin(last_full, last_full.c.user_id == User.id)
        .where(User.canvas_token_encrypted.is_not(None), User.canvas_base_url.is_not(None))
        .order_by(User.id)
    ).all()
    due = []
    for user_id, ran_at, full_at in rows:
        if ran_at is not None and _aware(ran_at) > now - interval:
            continue
        due.append((user_id, full_at is not None and _aware(full_at) > now - full_every))
    return due


def _aware(value: datetime) -> datetime:
    # Aggregates bypass the column type on some backends and come back naive (stored as UTC).
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def run_due_syncs(app: Flask) -> list[int]:
    """One scheduler tick: start the syncs that are due; returns the run ids started or joined."""
    with app.app_context():
        try:
            due = due_syncs(db.session, utcnow(),
                            interval=timedelta(minutes=app.config["SYNC_SCHEDULE_MINUTES"]),
                            full_every=timedelta(hours=app.config["SYNC_FULL_PASS_HOURS"]))
            runs = [request_sync(user_id, trigger="schedule", incremental=incremental).id
                    for user_id, incremental in due]
            log.info("event=schedule_tick due=%d", len(due))
            return runs
        finally:
            db.session.remove()


def start_scheduler(app: Flask, *, run_now: bool = True) -> BackgroundScheduler | None:
    if not app.config["SYNC_SCHEDULE_ENABLED"]:
        return None
    scheduler = app.extensions.get("sync_scheduler")
    if scheduler is None:
        scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
        app.extensions["sync_scheduler"] = scheduler
        scheduler.start()
    scheduler.add_job(run_due_syncs, "interval", args=[app], id=JOB_ID, replace_existing=True,
                      minutes=app.config["SYNC_SCHEDULE_MINUTES"],
                      next_run_time=utcnow() if run_now else utcnow() + timedelta(minutes=app.config["SYNC_SCHEDULE_MINUTES"]),
                      max_instances=1, coalesce=True)
    return scheduler
