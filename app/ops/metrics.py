"""Prometheus metrics (prometheus_client), correct under gunicorn's several workers.

Counters live in each process; with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py
and `make serve` set it) every process writes them to files there and /metrics sums
them over all workers (MultiProcessCollector), so a scrape answered by any worker
counts the runs of all of them. Queue depth and open alerts are read from the
database at scrape time, the one truth every process shares.
"""
from __future__ import annotations

import os

# prometheus_client writes its first values into this folder on import: create it if missing
# (`flask db upgrade` runs before gunicorn's on_starting would).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,  # noqa: E402
                               Histogram, generate_latest)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from sqlalchemy import func, select
from sqlalchemy.orm import Session

SYNC_RUNS = Counter("canvasflow_sync_runs", "Finished sync runs.", ["status", "kind", "trigger"])
SYNC_SECONDS = Histogram("canvasflow_sync_duration_seconds", "Wall time of finished sync runs.", ["kind"],
                         buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800))
CANVAS_REQUESTS = Counter("canvasflow_canvas_requests", "Requests made to Canvas by syncs.")
CANVAS_RETRIES = Counter("canvasflow_canvas_retries", "Requests to Canvas retried by syncs.")
CANVAS_THROTTLES = Counter("canvasflow_canvas_throttles", "Throttled (403/429) answers Canvas gave syncs.")
OPERATIONS = Counter("canvasflow_queue_operations", "Queue operations finished, by kind and outcome.",
                     ["kind", "status"])

__all__ = ["CONTENT_TYPE_LATEST", "observe_run", "observe_operation", "render"]


def observe_run(run) -> None:
    """Count a finished sync_run (called where every run finishes, sync_runs.finish_run)."""
    SYNC_RUNS.labels(status=run.status, kind=run.kind, trigger=run.trigger).inc()
    if run.duration_s is not None:
        SYNC_SECONDS.labels(kind=run.kind).observe(max(0.0, run.duration_s))
    CANVAS_REQUESTS.inc(run.requests or 0)
    CANVAS_RETRIES.inc(run.retries or 0)
    CANVAS_THROTTLES.inc(run.throttles or 0)


def observe_operation(kind: str, status: str) -> None:
    OPERATIONS.labels(kind=kind, status=status).inc()


class DatabaseGauges:
    """Read at scrape time: queue depth by status and kind, open alerts by kind."""

    def __init__(self, session: Session):
        self.session = session

    def collect(self):
        from app.models import SyncAlert, SyncOperation

        depth = GaugeMetricFamily("canvasflow_queue_operations_current", "Queue operations by status and kind.",
                                  labels=["status", "kind"])
        for status, kind, count in self.session.execute(
                select(SyncOperation.status, SyncOperation.kind, func.count())
                .where(SyncOperation.status.in_(SyncOperation.OPEN_STATUSES))
                .group_by(SyncOperation.status, SyncOperation.kind)):
            depth.add_metric([status, kind], count)
        yield depth
        alerts = GaugeMetricFamily("canvasflow_alerts_open", "Open alerts by kind.", labels=["kind"])
        for kind, count in self.session.execute(select(SyncAlert.kind, func.count())
                                                .where(SyncAlert.status == SyncAlert.OPEN).group_by(SyncAlert.kind)):
            alerts.add_metric([kind], count)
        yield alerts


def render(session: Session) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    gauges = CollectorRegistry()
    gauges.register(DatabaseGauges(session))
    return generate_latest(counters) + generate_latest(gauges)
