"""The hub's pulls as queue work (kind `hub_pull`), and their schedule.

The scheduler's periodic job `queue_due_pulls` queues one pull per connector and scope (a
Canvas course owner; Discourse's one account) every HUB_PULL_SECONDS, since pushes can be
lost. A pull asks for changes since the start of the scope's last completed pull.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import SyncOperation
from app.models.types import utcnow
from app.sync import queue
from app.sync.hub import HUB_PULL, LOCAL, Hub

Op = SyncOperation


def pull_operation(op: SyncOperation) -> dict:
    system, user_id, op_id, started = op.source_system, op.user_id, op.id, op.started_at
    session = db.session
    since = last_pull_started(session, system, user_id, before_id=op_id)
    hub = Hub.from_app(session)
    try:
        counts = hub.pull(system, user_id=user_id, since=since, operation_id=op_id)
    finally:
        hub.close()
    return {"system": system, "since": since.isoformat() if since else None, "started": str(started), **counts}


def last_pull_started(session: Session, system: str, user_id: int | None, *, before_id: int | None = None):
    """When the last completed pull of this scope started: the next one asks for changes since then."""
    stmt = select(Op.started_at).where(Op.kind == HUB_PULL, Op.source_system == system, Op.status == Op.COMPLETED)
    stmt = stmt.where(Op.user_id.is_(None) if user_id is None else Op.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(Op.id < before_id)
    return session.scalar(stmt.order_by(Op.id.desc()).limit(1))


def queue_due_pulls(app: Flask, now: datetime | None = None) -> list[int]:
    """Queue a pull for every (system, scope) not pulled within HUB_PULL_SECONDS (the scheduler's job)."""
    now = now or utcnow()
    interval = timedelta(seconds=app.config.get("HUB_PULL_SECONDS", 300))
    hub = Hub.from_app(db.session, app)
    queued = []
    try:
        for system in hub.systems:
            for user_id in hub.connectors.scopes(system):
                stmt = select(Op.created_at).where(Op.kind == HUB_PULL, Op.source_system == system)
                stmt = stmt.where(Op.user_id.is_(None) if user_id is None else Op.user_id == user_id)
                last = db.session.scalar(stmt.order_by(Op.id.desc()).limit(1))
                if last is not None and last > now - interval:
                    continue
                op, joined = queue.submit(db.session, HUB_PULL, source_system=system, target_system=LOCAL,
                                          user_id=user_id, dedupe_key=f"hub_pull:{system}:{user_id}",
                                          policy=hub.policy, notify=True)
                if not joined:
                    queued.append(op.id)
    finally:
        hub.close()
    return queued
