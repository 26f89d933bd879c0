"""`flask --app run queue ...` and `flask --app run scheduler`: the queue for operators."""
from __future__ import annotations

import logging
import signal
import time
from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.models import SyncOperation
from app.models.types import utcnow
from app.sync import queue
from app.sync.errors import describe

log = logging.getLogger(__name__)
queue_cli = AppGroup("queue", help="Inspect and steer the durable sync queue.")


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@queue_cli.command("status")
@click.option("--kind", default=None)
@click.option("--limit", default=20, show_default=True, help="How many recent operations to list.")
def status(kind, limit):
    """Counts by status, paused kinds and the most recent operations."""
    counts = queue.status_counts(db.session, kind=kind)
    click.echo("  ".join(f"{name}: {n}" for name, n in counts.items()))
    paused = queue.paused_kinds(db.session)
    click.echo("paused: " + (", ".join("everything" if k == "*" else k for k in paused) if paused else "nothing"))
    stmt = select(SyncOperation).order_by(SyncOperation.id.desc()).limit(limit)
    if kind:
        stmt = stmt.where(SyncOperation.kind == kind)
    for op in db.session.scalars(stmt):
        error = f"  {op.error_class}: {op.error_message}" if op.error_class else ""
        click.echo(f"{op.id:>6}  {op.kind:<14} {op.entity_type or '-'}:{op.entity_id or '-':<8} {op.status:<11} "
                   f"attempts {op.attempts}/{op.max_attempts}{error}")


@queue_cli.command("pause")
@click.option("--kind", default=None, help="Only this kind (default: the whole queue).")
def pause(kind):
    """Stop workers from claiming operations (running ones finish)."""
    queue.pause(db.session, kind, by="cli")
    click.echo(f"Paused {kind or 'the whole queue'}.")


@queue_cli.command("resume")
@click.option("--kind", default=None, help="Only this kind (default: the whole queue).")
def resume(kind):
    """Let workers claim again."""
    queue.resume(db.session, kind)
    click.echo(f"Resumed {kind or 'the whole queue'}.")
    _notify_due()


def _op_command(name: str, fn, done: str, help_text: str):
    @queue_cli.command(name, help=help_text)
    @click.argument("op_id", type=int)
    def command(op_id):
        if not fn(db.session, op_id):
            raise click.ClickException(f"Operation {op_id} does not exist or cannot be {done} in its state.")
        click.echo(f"Operation {op_id} {done}.")
        _notify_due()
    return command


_op_command("retry", queue.retry, "put back for a retry", "Retry a failed or skipped operation.")
_op_command("skip", queue.skip, "skipped", "Give up on a pending or failed operation.")
_op_command("force", queue.force, "forced", "Run an operation now, despite a pause or backoff.")


@queue_cli.command("bulk-retry")
@click.option("--kind", default=None)
@click.option("--entity-type", default=None)
@click.option("--since", default=None, help="Created at or after (ISO time, UTC if no zone).")
@click.option("--until", default=None, help="Created before (ISO time).")
def bulk_retry(kind, entity_type, since, until):
    """Retry every failed operation matching the filters."""
    count = queue.bulk_retry(db.session, kind=kind, entity_type=entity_type, since=_when(since), until=_when(until))
    click.echo(f"{count} operation(s) put back for a retry.")
    _notify_due()


@queue_cli.command("work")
@click.option("--burst", is_flag=True, help="Exit when nothing is due instead of waiting for work.")
@click.option("--kind", "kinds", multiple=True, help="Only these kinds (repeatable).")
@click.option("--poll", default=2.0, show_default=True, help="Seconds between looks at an empty queue.")
def work(burst, kinds, poll):
    """Run queued operations in this process (a worker without Celery)."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    policy = queue.RetryPolicy.from_config(current_app.config)
    worker_id = queue.default_worker_id()
    click.echo(f"Worker {worker_id} waiting for operations.")
    total = errors = 0
    while not stopping:
        try:
            ran = queue.process_available(db.session, worker_id, kinds=kinds or None, max_operations=1,
                                          policy=policy)
            errors = 0
        except Exception:  # the database went away: the operation stays queued, try again
            log.exception("event=worker_error worker_id=%s", worker_id)
            ran, errors = 0, errors + 1
            if burst and errors >= 5:
                raise click.ClickException("The queue's database kept failing; giving up.") from None
        finally:
            db.session.remove()
        total += ran
        if not ran:
            if burst and not errors:
                break
            time.sleep(poll)
    click.echo(f"Worker {worker_id} ran {total} operation(s).")


def _notify_due() -> None:
    from app.sync.executors import hand_off

    due = db.session.scalar(select(func.count()).select_from(SyncOperation).where(queue.due_condition(utcnow())))
    hand_off(current_app._get_current_object(), min(due or 0, current_app.config["SYNC_DISPATCH_MAX"]))


@click.command("scheduler")
def scheduler_command():
    """Run the scheduler in the foreground (one per deployment; extra ones stand by)."""
    from app.sync.scheduler import PERIODIC_JOBS, SCHEDULED_SYNCS, start_scheduler

    app = current_app._get_current_object()
    jobs = PERIODIC_JOBS
    if not app.config["SYNC_SCHEDULE_ENABLED"]:
        jobs = tuple(job for job in PERIODIC_JOBS if job.name not in SCHEDULED_SYNCS)
        click.echo("Scheduled syncs are off (SYNC_SCHEDULE_ENABLED=false): this scheduler runs "
                   + ", ".join(job.name for job in jobs) + ", and no scheduled sync.")
    click.echo(f"Scheduler started: a tick every {app.config['SYNC_TICK_SECONDS']} s.")
    start_scheduler(app, blocking=True, jobs=jobs)


hub_cli = AppGroup("hub", help="Link courses to Discourse categories and run the discussions hub.")


def _hub():
    from app.sync.hub import Hub

    return Hub.from_app(db.session)


@hub_cli.command("link")
@click.option("--course", "course_id", type=int, required=True, help="The local course id.")
@click.option("--category", "category_id", type=click.IntRange(min=1), required=True,
              help="The Discourse category id.")
def hub_link(course_id, category_id):
    """Link a course to a Discourse category: their topics and replies stay in step."""
    hub = _hub()
    try:
        hub.link_course(course_id, category_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        hub.close()
    click.echo(f"Course {course_id} linked to Discourse category {category_id}; what it holds is queued for "
               "delivery.")


@hub_cli.command("links")
def hub_links():
    """Every course link: course, system, container."""
    from app.models import Course, HubCourseLink

    rows = db.session.execute(select(HubCourseLink.course_id, Course.name, HubCourseLink.system,
                                     HubCourseLink.container_id)
                              .join(Course, Course.id == HubCourseLink.course_id)
                              .order_by(HubCourseLink.course_id, HubCourseLink.system)).all()
    if not rows:
        click.echo("No course is linked.")
    for course_id, name, system, container in rows:
        click.echo(f"course {course_id} ({name}): {system} {container}")


@hub_cli.command("unlink")
@click.option("--course", "course_id", type=int, required=True, help="The local course id.")
def hub_unlink(course_id):
    """Stop keeping a course in step (its local copies and mappings are kept)."""
    hub = _hub()
    try:
        systems = hub.unlink_course(course_id)
    finally:
        hub.close()
    if not systems:
        raise click.ClickException(f"Course {course_id} is not linked.")
    click.echo(f"Course {course_id} unlinked from {', '.join(systems)}.")


@hub_cli.command("run")
@click.option("--once", is_flag=True, required=True, help="Pull each system once, deliver, and exit.")
def hub_run(once):
    """Pull every linked system, deliver what is due; exit 1 with the reasons when something failed."""
    from app.sync.hub import HUB_DELIVERY
    from app.sync.jobs.hub_pull import last_pull_started

    started = utcnow()
    failures: list[str] = []
    hub = _hub()
    try:
        for system in hub.systems:
            for user_id in hub.connectors.scopes(system):
                scope = f"{system}" + (f" (as user {user_id})" if user_id is not None else "")
                try:
                    counts = hub.pull(system, user_id=user_id,
                                      since=last_pull_started(db.session, system, user_id))
                except Exception as exc:  # noqa: BLE001 - reported, then the next system
                    db.session.rollback()
                    failures.append(f"pull {scope}: {describe(exc)}")
                    continue
                click.echo(f"pulled {scope}: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                                                  or "nothing new"))
    finally:
        hub.close()
    policy = queue.RetryPolicy.from_config(current_app.config)
    ran = queue.process_available(db.session, kinds=[HUB_DELIVERY], max_operations=10_000, policy=policy)
    click.echo(f"delivered: {ran} operation(s) run")
    db.session.rollback()
    for op in db.session.scalars(select(SyncOperation).where(
            SyncOperation.kind == HUB_DELIVERY, SyncOperation.updated_at >= started,
            SyncOperation.error_message.is_not(None),
            SyncOperation.status.in_([SyncOperation.FAILED, SyncOperation.PENDING])).order_by(SyncOperation.id)):
        retry = " (will be retried)" if op.status == SyncOperation.PENDING else ""
        failures.append(f"deliver {op.entity_type} {op.entity_id} to {op.target_system}: {op.error_message}{retry}")
    for failure in failures:
        click.echo(failure, err=True)
    if failures:
        raise SystemExit(1)


sync_cli = AppGroup("sync", help="Keep the sync history and queue tidy.")


@sync_cli.command("maintain")
@click.option("--dry-run", is_flag=True, help="Only report: purge, compact and repair nothing.")
@click.option("--no-analyze", is_flag=True, help="Skip ANALYZE/OPTIMIZE/VACUUM.")
def maintain(dry_run, no_analyze):
    """Purge old operations, compact old history, check and repair consistency, refresh statistics."""
    from app.ops import maintenance

    report = maintenance.run(db.session, current_app.config, repair=not dry_run, analyze=not no_analyze)
    if report["purged"]:
        click.echo(f"purged operations: {report['purged']['completed']} completed, {report['purged']['failed']} failed")
    if report["history"]:
        h = report["history"]
        click.echo(f"history: {h['runs_compacted']} runs compacted into {h['days_written']} daily rows; "
                   f"{h['summaries_purged']} summaries and {h['alerts_purged']} alerts past retention purged")
    if report.get("hub"):
        click.echo(f"hub history: {report['hub']['transactions']} log rows and "
                   f"{report['hub']['webhook_events']} seen webhook ids past retention purged")
    for finding in report["checks"]:
        repaired = f", {finding['repaired']} repaired" if finding["repaired"] else ""
        detail = f" ({finding['detail']})" if finding["detail"] else ""
        click.echo(f"check {finding['check']}: {finding['count']} found{repaired}{detail}")
    for statement in report["optimized"]:
        click.echo(f"ran {statement}")
