"""Queue work: one module per operation kind, each registered with the queue here and nowhere else.

A job is a function of its operation (jobs are functions of ids); the executors only carry
operation ids to `queue.process_claimed`, which looks the kind up in this table.
"""
from __future__ import annotations

from flask import Flask

from app.sync import executors, queue
from app.sync.connectors import HUB_CONNECTORS, import_connectors, registry
from app.sync.hub import HUB_DELIVERY, HUB_PULL
from app.sync.jobs import canvas_sync, classroom_usage, hub_delivery, hub_pull, source_pull

JOBS: dict[str, queue.Handler] = {
    canvas_sync.CANVAS_SYNC: canvas_sync.canvas_sync_operation,
    source_pull.SOURCE_PULL: source_pull.source_pull_operation,
    classroom_usage.CLASSROOM_USAGE: classroom_usage.classroom_usage_operation,
    HUB_DELIVERY: hub_delivery.delivery_operation,
    HUB_PULL: hub_pull.pull_operation,
}


def register_jobs() -> None:
    for kind, job in JOBS.items():
        queue.register(kind, job)


def init_app(app: Flask) -> None:
    """Every process that runs queue work (web, `flask queue work`, Celery) registers the same jobs,
    the hub's connectors and this app's executor."""
    register_jobs()
    import_connectors(HUB_CONNECTORS)
    app.extensions.setdefault("hub_registry", registry)
    executors.init_app(app)
