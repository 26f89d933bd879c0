"""Executors move work, the database keeps the truth.

An executor is told "there is due work in the queue" and makes a worker drain it:

* `ThreadExecutor` (the default, `make demo`): a bounded thread pool in this process;
* `CeleryExecutor` (`SYNC_EXECUTOR=celery`): a Celery task per notification, carried by
  the broker (Redis by default, RabbitMQ works too) to `celery -A app.celery_app worker`.

Either way the worker claims operations from `sync_operation` itself (`queue.claim`),
so a lost notification only delays work: the scheduler's dispatch job re-notifies for
anything due, and a duplicate notification finds nothing left to claim.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from flask import Flask

log = logging.getLogger(__name__)


class Executor:
    name = "executor"

    def notify(self, count: int = 1) -> None:
        """Ask for `count` operations to be run (best effort; the queue is the truth)."""
        raise NotImplementedError

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with wait, let what runs finish."""


class ThreadExecutor(Executor):
    name = "thread"

    def __init__(self, app: Flask, max_workers: int):
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sync-job")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def notify(self, count: int = 1) -> list[Future]:
        futures = [self.pool.submit(drain, self.app, 1) for _ in range(count)]
        with self._lock:
            self._pending.update(futures)
        for future in futures:
            future.add_done_callback(self._done)
        return futures

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait_idle(self, timeout: float = 60) -> None:
        """Block until everything notified so far has run (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        done, not_done = wait(pending, timeout=timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} queued job(s) still running after {timeout} s")

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


class CeleryExecutor(Executor):
    name = "celery"

    def __init__(self, app: Flask):
        self.app = app

    def notify(self, count: int = 1) -> None:
        celery = self.app.extensions["celery"]  # this app's broker and queue, not a process-wide default
        for _ in range(count):
            celery.send_task("canvasflow.run_operations", kwargs={"max_operations": 1})


def drain(app: Flask, max_operations: int) -> int:
    """Run up to `max_operations` due operations in an app context (what every worker does)."""
    from app.extensions import db
    from app.sync import queue

    with app.app_context():
        try:
            return queue.process_available(db.session, max_operations=max_operations,
                                           policy=queue.RetryPolicy.from_config(app.config))
        except Exception:  # a database outage: the operation stays in the queue for the next try
            log.exception("event=drain_failed")
            return 0
        finally:
            db.session.remove()


def hand_off(app: Flask, count: int) -> bool:
    """Notify from a short-lived process (the CLI): only executors whose workers live
    elsewhere. A thread pool here would die with the command, so the work is left to
    the workers (`flask queue work`) or to the scheduler, which dispatches due work."""
    executor = get_executor(app)
    if isinstance(executor, ThreadExecutor) or count <= 0:
        return False
    executor.notify(count)
    return True


def init_app(app: Flask) -> None:
    kind = app.config.get("SYNC_EXECUTOR", "thread")
    if kind == "celery":
        from app.celery_app import celery_init_app

        celery_init_app(app)
        executor: Executor = CeleryExecutor(app)
    elif kind == "thread":
        executor = ThreadExecutor(app, app.config["SYNC_THREAD_POOL_SIZE"])
    else:
        raise RuntimeError(f"SYNC_EXECUTOR must be 'thread' or 'celery', not {kind!r}")
    app.extensions["sync_executor"] = executor


def get_executor(app: Flask) -> Executor:
    return app.extensions["sync_executor"]
