"""The hub as queue work: the `hub_delivery` and `hub_pull` handlers, the pull schedule, retention.

Importing this module registers both handlers (app/__init__.py does, so every web process,
`flask queue work` and Celery worker can run them). The scheduler's tick calls
`queue_due_pulls`: one pull per connector and scope (a Canvas course owner; Discourse's one
account) every HUB_PULL_SECONDS, since pushes can be lost. A pull asks for changes since the
start of the scope's last completed pull.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import HubTransaction, HubWebhookEvent, SyncOperation
from app.models.types import utcnow
from app.sync import executors, queue
from app.sync.connectors.base import registry as default_registry
from app.sync.errors import PermanentError
from app.sync.hub import HUB_DELIVERY, HUB_PULL, LOCAL, Hub

Op = SyncOperation

@queue.handler(HUB_DELIVERY)
def delivery_operation(op: SyncOperation) -> dict:
    if not (op.entity_type and str(op.entity_id or "").isdigit() and op.target_system):
        raise PermanentError("This hub delivery names no entity or target system; it cannot be delivered.")
    entity_type, entity_id, target, op_id = op.entity_type, int(op.entity_id), op.target_system, op.id
    hub = Hub.from_app(db.session)
    try:
        return hub.deliver(entity_type, entity_id, target, operation_id=op_id)
    finally:
        hub.close()


@queue.handler(HUB_PULL)
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
                op, joined = queue.enqueue(db.session, HUB_PULL, source_system=system, target_system=LOCAL,
                                           user_id=user_id, dedupe_key=f"hub_pull:{system}:{user_id}",
                                           policy=hub.policy)
                if not joined:
                    queued.append(op.id)
    finally:
        hub.close()
    if queued:
        executors.get_executor(app).notify(len(queued))
    return queued


def purge_history(session: Session, now: datetime | None = None, *, log_days: int = 90,
                  event_days: int = 30) -> dict[str, int]:
    """Drop transaction-log rows and seen webhook ids older than their retention (conflicts are kept).

    Meant for the daily maintenance (app/ops/maintenance.py); a sender does not redeliver a push after days.
    """
    now = now or utcnow()
    old_logs = HubTransaction.created_at < now - timedelta(days=log_days)
    old_events = HubWebhookEvent.received_at < now - timedelta(days=event_days)
    logged = session.execute(delete(HubTransaction).where(old_logs)
                             .execution_options(synchronize_session=False)).rowcount
    events = session.execute(delete(HubWebhookEvent).where(old_events)
                             .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return {"transactions": logged, "webhook_events": events}


def init_app(app: Flask) -> None:
    """Nothing to build: importing this module registers the queue handlers and the Canvas connector."""
    app.extensions.setdefault("hub_registry", default_registry)
