"""Scheduled syncs with APScheduler, run by exactly one scheduler per deployment.

One job, `tick`, every SYNC_TICK_SECONDS (coalesced, never overlapping itself). A tick
first renews this scheduler's leadership (a `service_heartbeat` row that doubles as the
liveness signal /healthz reads); a scheduler that is not the leader does nothing, so
starting two (two `flask scheduler` processes, or one per gunicorn worker by mistake)
never doubles the work, and a standby takes over once the leader stops beating.

The leader then queues what is due, by criticality:
* every SYNC_SCHEDULE_MINUTES (15): an incremental sync of each connected user. It reads
  the course list and each course's assignment groups (the structure: courses, terms,
  grade categories, deadlines) and only the submissions graded or submitted since, at
  two requests per course; so structure rides along with every pass instead of needing
  an hourly job of its own;
* every SYNC_FULL_PASS_HOURS (24): a full sync, the only way Canvas reveals deletions
  and late/missing flags that moved with time.
* every SOURCE_PULL_MINUTES (30): a pull of each Google Classroom / Schoology connection
  (queue kind "source_pull", app/sync/jobs/source_pull.py; full once a day, else incremental).
* when CLASSROOM_SCHOOL_YEAR_START is set: a Classroom usage run per Classroom connection
  (queue kind "classroom_usage", app/sync/jobs/classroom_usage.py), at each tick while
  catching up, then every CLASSROOM_USAGE_HOURS (24).
Due times are jittered per user (up to SYNC_SCHEDULE_JITTER of the interval, later,
never earlier), so users synced together drift apart instead of hitting Canvas at one
moment forever. A user whose sync is queued or running is joined, never started twice.
It queues the hub's pulls that are due (HUB_PULL_SECONDS per connector and scope).
Then it re-notifies the executor of queued work that is due (retries after backoff,
work queued by `canvas sync --queue`, operations of a dead worker), evaluates alerts
(app/ops/alerts.py) and, once a day, runs maintenance (app/ops/maintenance.py).

These are `PERIODIC_JOBS`, declared as data (name, interval, function) as Redash declares
its `periodic_job_definitions`: a tick runs each one that is due, in order, each in its own
try with its own rollback, so one job's failure never stops the others. A job without an
interval runs at every tick (what it queues is due per user or per scope); one with an
interval keeps its last run in a `service_heartbeat` row, so a new leader knows it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import ServiceHeartbeat, SyncOperation, SyncRun, User, UserConnection
from app.models.canvas import CLASSROOM
from app.models.types import utcnow
from app.ops import alerts, maintenance
from app.sync import leader, queue
from app.sync.jobs.canvas_sync import request_sync
from app.sync.jobs.classroom_usage import STATE_KEY as USAGE_STATE_KEY
from app.sync.jobs.classroom_usage import request_usage_pull, usage_configured
from app.sync.jobs.hub_pull import queue_due_pulls
from app.sync.jobs.source_pull import request_pull

log = logging.getLogger(__name__)

JOB_ID = "canvas-flow-tick"
LEADER = "scheduler"
MAINTENANCE = "maintenance"


def jitter(user_id: int, interval: timedelta, fraction: float) -> timedelta:
    """A stable per-user delay in [0, fraction * interval) (Knuth's multiplicative hash)."""
    spread = (user_id * 2654435761 % 2**32) / 2**32
    return interval * fraction * spread


def due_syncs(session: Session, now: datetime, *, interval: timedelta, full_every: timedelta,
              jitter_fraction: float = 0.0) -> list[tuple[int, bool]]:
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
        delay = jitter(user_id, interval, jitter_fraction)
        if ran_at is not None and _aware(ran_at) > now - interval - delay:
            continue
        full_due = full_at is None or _aware(full_at) <= now - full_every - jitter(user_id, full_every, jitter_fraction)
        due.append((user_id, not full_due))
    return due


def _aware(value: datetime) -> datetime:
    # Aggregates bypass the column type on some backends and come back naive (stored as UTC).
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def run_due_syncs(app: Flask, now: datetime | None = None) -> list[int]:
    """Queue the syncs that are due; returns the run ids started or joined."""
    now = now or utcnow()
    due = due_syncs(db.session, now, interval=timedelta(minutes=app.config["SYNC_SCHEDULE_MINUTES"]),
                    full_every=timedelta(hours=app.config["SYNC_FULL_PASS_HOURS"]),
                    jitter_fraction=app.config["SYNC_SCHEDULE_JITTER"])
    runs = [request_sync(user_id, trigger="schedule", incremental=incremental).id for user_id, incremental in due]
    log.log(logging.INFO if due else logging.DEBUG, "event=schedule_tick due=%d", len(due))  # idle ticks are noise
    return runs


def due_source_pulls(session: Session, now: datetime, *, interval: timedelta,
                     jitter_fraction: float = 0.0) -> list[int]:
    """Ids of the Classroom/Schoology connections due for a pull (the pull decides full or incremental)."""
    rows = session.execute(
        select(UserConnection.id, UserConnection.last_pull_at)
        .where(UserConnection.credentials_encrypted.is_not(None))
        .order_by(UserConnection.id)
    ).all()
    return [connection_id for connection_id, pulled_at in rows
            if pulled_at is None or _aware(pulled_at) <= now - interval - jitter(connection_id, interval, jitter_fraction)]


def run_due_source_pulls(app: Flask, now: datetime | None = None) -> list[int]:
    """Queue the due source pulls (joining any still open); returns their operation ids."""
    now = now or utcnow()
    due = due_source_pulls(db.session, now, interval=timedelta(minutes=app.config["SOURCE_PULL_MINUTES"]),
                           jitter_fraction=app.config["SYNC_SCHEDULE_JITTER"])
    ops = [request_pull(db.session.get(UserConnection, connection_id), trigger="schedule", notify=False)[0].id
           for connection_id in due]
    log.log(logging.INFO if due else logging.DEBUG, "event=source_pull_tick due=%d", len(due))
    return ops


def due_usage_pulls(session: Session, now: datetime, *, interval: timedelta) -> list[int]:
    """Ids of the Classroom connections due for a usage run: never run, still catching up
    (the last run stopped at its window bound), or last run more than `interval` ago."""
    rows = session.execute(
        select(UserConnection.id, UserConnection.state_json)
        .where(UserConnection.system == CLASSROOM, UserConnection.credentials_encrypted.is_not(None))
        .order_by(UserConnection.id)
    ).all()
    due = []
    for connection_id, state_json in rows:
        try:
            last = (json.loads(state_json) if state_json else {}).get(USAGE_STATE_KEY) or {}
            at = datetime.fromisoformat(last["at"]) if last.get("at") else None
        except (ValueError, TypeError, AttributeError):
            last, at = {}, None
        if at is None or (last.get("ok") and not last.get("caught_up")) or _aware(at) <= now - interval:
            due.append(connection_id)
    return due


def run_due_usage_pulls(app: Flask, now: datetime | None = None) -> list[int]:
    """Queue the due Classroom usage runs when CLASSROOM_SCHOOL_YEAR_START is set."""
    if not usage_configured(app.config):
        return []
    now = now or utcnow()
    due = due_usage_pulls(db.session, now, interval=timedelta(hours=app.config["CLASSROOM_USAGE_HOURS"]))
    ops = [request_usage_pull(db.session.get(UserConnection, connection_id), notify=False)[0].id
           for connection_id in due]
    log.info("event=classroom_usage_tick due=%d", len(due))
    return ops


def dispatch_due(app: Flask, now: datetime | None = None) -> int:
    """Tell the executor about queued operations that are due; returns how many."""
    now = now or utcnow()
    count = db.session.scalar(select(func.count()).select_from(SyncOperation).where(queue.due_condition(now))) or 0
    count = min(count, app.config["SYNC_DISPATCH_MAX"])
    if count:
        queue.wake(count)
    return count


def run_maintenance(app: Flask, now: datetime) -> dict:
    """Daily maintenance: retention, compaction, repairs, statistics."""
    return maintenance.run(db.session, app.config, now=now)


def evaluate_alerts(app: Flask, now: datetime) -> None:
    config = app.config
    alerts.evaluate(db.session, alerts.Thresholds.from_config(config), alerts.Notifier(config), now)


@dataclass(frozen=True)
class PeriodicJob:
    """One thing the scheduler does: `run(app, now)` every `interval(config)` (None: every tick)."""

    name: str
    run: Callable[[Flask, datetime], object]
    interval: Callable[[Mapping], timedelta] | None = None


# The jobs SYNC_SCHEDULE_ENABLED turns off; the hub's pulls, dispatch, alerts and maintenance stay.
SCHEDULED_SYNCS = ("canvas_syncs", "source_pulls", "classroom_usage")
PERIODIC_JOBS = (
    PeriodicJob("canvas_syncs", run_due_syncs),
    PeriodicJob("source_pulls", run_due_source_pulls),
    PeriodicJob("classroom_usage", run_due_usage_pulls),
    PeriodicJob("hub_pulls", queue_due_pulls),
    PeriodicJob("dispatch_due", dispatch_due),  # after the jobs above: it notifies for what they queued too
    PeriodicJob("alerts", evaluate_alerts),
    PeriodicJob(MAINTENANCE, run_maintenance, lambda config: timedelta(hours=config["SYNC_MAINTENANCE_HOURS"])),
)


def run_periodic_job(app: Flask, job: PeriodicJob, now: datetime) -> tuple[bool, object]:
    """Run one job if it is due, isolated: (ran without error, its result). Its failure is rolled back."""
    try:
        every = job.interval(app.config) if job.interval is not None else None
        if every is not None:
            last = db.session.get(ServiceHeartbeat, job.name)
            if last is not None and last.beat_at > now - every:
                return True, None
        result = job.run(app, now)
        if every is not None:
            db.session.merge(ServiceHeartbeat(name=job.name, owner=leader.default_owner(), beat_at=now,
                                              expires_at=now + every))
            db.session.commit()
        return True, result
    except Exception:
        db.session.rollback()
        log.exception("event=periodic_job_failed job=%s", job.name)
        return False, None


class Scheduler:
    """One scheduler: `tick` runs the periodic jobs that are due, so tests drive it with a fake clock."""

    def __init__(self, app: Flask, *, owner: str | None = None, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS):
        self.app = app
        self.jobs = jobs
        self.owner = owner or leader.default_owner()
        self.ttl = timedelta(seconds=3 * app.config["SYNC_TICK_SECONDS"])

    def tick(self, now: datetime | None = None) -> list[int] | None:
        """Run the due periodic jobs if this scheduler leads: the Canvas runs started or joined (empty when
        that job failed); None when another scheduler leads or the database is down."""
        now = now or utcnow()
        with self.app.app_context():
            try:
                if not leader.hold(db.session, LEADER, self.owner, ttl=self.ttl, now=now):
                    return None
                results = {job.name: run_periodic_job(self.app, job, now) for job in self.jobs}
                ran, runs = results.get("canvas_syncs", (True, []))
                return (runs or []) if ran else []
            except Exception:  # the database is down: the next tick tries again
                log.exception("event=schedule_tick_failed")
                return None
            finally:
                db.session.remove()

    def stop(self) -> None:
        with self.app.app_context():
            leader.release(db.session, LEADER, self.owner)
            db.session.remove()


def start_scheduler(app: Flask, *, run_now: bool = True, blocking: bool = False,
                    jobs: tuple[PeriodicJob, ...] | None = None):
    """Start the tick job in the background (run.py) or in the foreground (`flask scheduler`).

    Without `jobs`, nothing starts when SYNC_SCHEDULE_ENABLED is off; `flask scheduler` passes
    the jobs that still run then (the hub's pulls, dispatch, alerts, maintenance)."""
    if jobs is None:
        if not app.config["SYNC_SCHEDULE_ENABLED"]:
            return None
        jobs = PERIODIC_JOBS
    found = app.extensions.get("sync_scheduler")
    if found is not None:
        return found
    aps = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="UTC")
    scheduler = Scheduler(app, jobs=jobs)
    aps.add_job(scheduler.tick, "interval", id=JOB_ID, replace_existing=True,
                seconds=app.config["SYNC_TICK_SECONDS"],
                next_run_time=utcnow() if run_now else utcnow() + timedelta(seconds=app.config["SYNC_TICK_SECONDS"]),
                max_instances=1, coalesce=True)
    aps.canvasflow = scheduler
    app.extensions["sync_scheduler"] = aps
    aps.start()  # returns only on shutdown when blocking
    return aps
