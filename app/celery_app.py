"""Celery for scale-out: `celery -A app.celery_app worker` runs queue operations.

Flask's pattern (celery_init_app): every task runs inside an app context. A task only
says "run due operations"; which ones, and whether they already ran, is decided by the
`sync_operation` table (queue.claim), so a redelivered message (acks_late, a worker
lost mid-task) finds its operation done, or claims it again after its lease expired.
"""
from __future__ import annotations

from celery import Celery, Task, shared_task
from flask import Flask, current_app


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object({
        "broker_url": app.config["CELERY_BROKER_URL"],
        "task_default_queue": app.config["CELERY_TASK_QUEUE"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    })
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


@shared_task(name="canvasflow.run_operations")
def run_operations(max_operations: int = 1) -> int:
    """Run up to `max_operations` due operations from the queue."""
    from app.sync.executors import drain

    return drain(current_app._get_current_object(), max_operations)


def __getattr__(name: str):
    # `celery -A app.celery_app` looks up `app` here: the Flask app is built on first
    # use only, so importing this module from create_app does not recurse.
    if name not in ("app", "celery"):
        raise AttributeError(name)
    from app import create_app

    flask_app = create_app()
    celery = flask_app.extensions.get("celery") or celery_init_app(flask_app)
    globals().update(app=celery, celery=celery)
    return celery
