"""Keeping the database from growing without bound, and consistent (`flask sync maintain`).

* retention: completed (and skipped) operations older than 30 days, failed ones older
  than 90, per kind when configured (SYNC_RETENTION_BY_KIND="hub_delivery=7:30");
* compaction: sync runs older than SYNC_HISTORY_DAYS become one sync_daily_summary row
  per day, user and kind, kept SYNC_SUMMARY_DAYS (a year);
* consistency checks that report and, unless asked not to, repair: rows alive under a
  deleted parent, operations stuck in progress, courses with no term, locks whose
  holder is gone, runs left running without a lock;
* the hub's history: transaction-log rows older than 90 days, seen webhook ids older than 30
  (conflicts are kept);
* statistics refreshed where each backend benefits (ANALYZE, OPTIMIZE, VACUUM).
The scheduler runs it once a day (SYNC_MAINTENANCE_HOURS); each step commits on its own.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.models import (Assignment, Course, SyncAlert, SyncDailySummary, SyncLock, SyncOperation, SyncRun,
                        Submission, Term)
from app.models import raw_codec
from app.models.types import utcnow
from app.services.sync_runs import holder_is_dead
from app.sync.hub.store import purge_history

log = logging.getLogger(__name__)
Op = SyncOperation
STUCK_AFTER = timedelta(hours=1)  # past its lease by this much, nobody is coming back for it


@dataclass(frozen=True)
class Retention:
    completed_days: int = 30
    failed_days: int = 90
    by_kind: dict = field(default_factory=dict)  # kind -> (completed days, failed days)
    history_days: int = 30
    summary_days: int = 365

    @classmethod
    def from_config(cls, config) -> "Retention":
        by_kind = {}
        for item in filter(None, (config.get("SYNC_RETENTION_BY_KIND") or "").split(",")):
            kind, _, days = item.partition("=")
            completed, _, failed = days.partition(":")
            by_kind[kind.strip()] = (int(completed), int(failed or config["SYNC_RETENTION_FAILED_DAYS"]))
        return cls(completed_days=config["SYNC_RETENTION_COMPLETED_DAYS"],
                   failed_days=config["SYNC_RETENTION_FAILED_DAYS"], by_kind=by_kind,
                   history_days=config["SYNC_HISTORY_DAYS"], summary_days=config["SYNC_SUMMARY_DAYS"])


def purge_operations(session: Session, now: datetime, retention: Retention) -> dict:
    counts = {"completed": 0, "failed": 0}

    def purge(statuses, days, *kind_filter):
        return session.execute(delete(Op).where(Op.status.in_(statuses), Op.finished_at < now - timedelta(days=days),
                                                *kind_filter).execution_options(synchronize_session=False)).rowcount

    special = list(retention.by_kind)
    for kind, (completed_days, failed_days) in retention.by_kind.items():
        counts["completed"] += purge([Op.COMPLETED, Op.SKIPPED], completed_days, Op.kind == kind)
        counts["failed"] += purge([Op.FAILED], failed_days, Op.kind == kind)
    others = [Op.kind.not_in(special)] if special else []
    counts["completed"] += purge([Op.COMPLETED, Op.SKIPPED], retention.completed_days, *others)
    counts["failed"] += purge([Op.FAILED], retention.failed_days, *others)
    session.commit()
    return counts


def compact_history(session: Session, now: datetime, retention: Retention) -> dict:
    """Old runs -> daily summaries (added to a day's existing row), then old summaries purged."""
    cutoff = now - timedelta(days=retention.history_days)
    runs = session.scalars(select(SyncRun).where(SyncRun.started_at < cutoff,
                                                 SyncRun.status.in_(SyncRun.FINISHED_STATES))).all()
    days: dict[tuple, SyncDailySummary] = {}
    for run in runs:
        key = (run.started_at.date(), run.user_id, run.kind)
        row = days.get(key)
        if row is None:
            row = session.scalar(select(SyncDailySummary).where(
                SyncDailySummary.day == key[0], SyncDailySummary.user_id == key[1], SyncDailySummary.kind == key[2]))
            if row is None:
                row = SyncDailySummary(day=key[0], user_id=key[1], kind=key[2], runs=0, succeeded=0, partial=0,
                                       failed=0, requests=0, throttles=0, total_seconds=0.0, max_seconds=0.0)
                session.add(row)
            days[key] = row
        seconds = run.duration_s or 0.0
        row.runs += 1
        setattr(row, run.status, getattr(row, run.status) + 1)
        row.requests += run.requests or 0
        row.throttles += run.throttles or 0
        row.total_seconds += seconds
        row.max_seconds = max(row.max_seconds, seconds)
    if runs:
        session.execute(delete(SyncRun).where(SyncRun.id.in_([r.id for r in runs]))
                        .execution_options(synchronize_session=False))
    purged = session.execute(delete(SyncDailySummary).where(
        SyncDailySummary.day < (now - timedelta(days=retention.summary_days)).date())).rowcount
    resolved = session.execute(delete(SyncAlert).where(
        SyncAlert.status == SyncAlert.RESOLVED, SyncAlert.resolved_at < now - timedelta(days=retention.summary_days)
    )).rowcount
    session.commit()
    return {"runs_compacted": len(runs), "days_written": len(days), "summaries_purged": purged,
            "alerts_purged": resolved}


@dataclass
class Finding:
    check: str
    count: int
    repaired: int = 0
    detail: str = ""


def check_consistency(session: Session, now: datetime, *, repair: bool = True) -> list[Finding]:
    findings = [_alive_under_deleted(session, repair), _stuck_operations(session, now, repair),
                _courses_without_term(session, repair), _dead_locks(session, now, repair)]
    session.commit()
    return findings


def _alive_under_deleted(session: Session, repair: bool) -> Finding:
    """Assignments or submissions still live although their course or assignment was deleted."""
    assignments = session.execute(select(Assignment.id, Course.deleted_at).join(Course).where(
        Assignment.deleted_at.is_(None), Course.deleted_at.is_not(None))).all()
    submissions = session.execute(select(Submission.id, func.coalesce(Course.deleted_at, Assignment.deleted_at))
                                  .join(Assignment, Submission.assignment_id == Assignment.id)
                                  .join(Course, Submission.course_id == Course.id)
                                  .where(Submission.deleted_at.is_(None),
                                         Assignment.deleted_at.is_not(None) | Course.deleted_at.is_not(None))).all()
    if repair:
        for model, rows in ((Assignment, assignments), (Submission, submissions)):
            for row_id, deleted_at in rows:
                session.execute(update(model).where(model.id == row_id).values(deleted_at=deleted_at))
    count = len(assignments) + len(submissions)
    return Finding("orphaned rows", count, count if repair else 0,
                   f"{len(assignments)} assignments, {len(submissions)} submissions alive under a deleted parent")


def _stuck_operations(session: Session, now: datetime, repair: bool) -> Finding:
    stuck = session.scalars(select(Op.id).where(Op.status == Op.IN_PROGRESS, (Op.lease_expires_at.is_(None)) | (
        Op.lease_expires_at < now - STUCK_AFTER))).all()
    if repair and stuck:
        session.execute(update(Op).where(Op.id.in_(stuck)).values(status=Op.PENDING, worker_id=None,
                                                                  lease_expires_at=None, next_attempt_at=now)
                        .execution_options(synchronize_session=False))
    return Finding("operations stuck in progress", len(stuck), len(stuck) if repair else 0,
                   "put back in the queue" if stuck else "")


def _courses_without_term(session: Session, repair: bool) -> Finding:
    """A course whose term link is missing although its Canvas JSON names a term we have."""
    # Only Canvas JSON names a Canvas term; other sources' courses have no such link to repair.
    rows = session.execute(select(Course.id, Course.user_id, Course.raw_deflate).where(
        Course.term_id.is_(None), Course.source_system == "canvas")).all()
    fixed = 0
    for course_id, user_id, packed in rows:
        raw = raw_codec.unpack(packed)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        canvas_term = (data.get("term") or {}).get("id") if isinstance(data.get("term"), dict) else None
        canvas_term = canvas_term or data.get("enrollment_term_id")
        term_id = canvas_term and session.scalar(select(Term.id).where(Term.user_id == user_id,
                                                                        Term.source_system == "canvas",
                                                                        Term.canvas_term_id == canvas_term))
        if term_id and repair:
            session.execute(update(Course).where(Course.id == course_id).values(term_id=term_id))
            fixed += 1
    return Finding("courses with no term", len(rows), fixed,
                   f"{fixed} linked to their term; the rest have no term in Canvas" if rows else "")


def _dead_locks(session: Session, now: datetime, repair: bool) -> Finding:
    """Sync locks whose holder is gone, and runs left running or queued with no lock."""
    locks = session.scalars(select(SyncLock)).all()
    dead = [lock for lock in locks if lock.expires_at < now or holder_is_dead(lock.owner) or
            session.scalar(select(SyncRun.status).where(SyncRun.id == lock.run_id)) in (None, *SyncRun.FINISHED_STATES)]
    orphan_runs = session.scalars(select(SyncRun.id).where(
        SyncRun.status.in_([SyncRun.RUNNING, SyncRun.QUEUED]),
        SyncRun.id.not_in(select(SyncLock.run_id).where(SyncLock.run_id.is_not(None))))).all()
    if repair:
        for lock in dead:
            session.execute(delete(SyncLock).where(SyncLock.user_id == lock.user_id, SyncLock.owner == lock.owner))
        stopped = [lock.run_id for lock in dead if lock.run_id] + list(orphan_runs)
        if stopped:
            session.execute(update(SyncRun).where(SyncRun.id.in_(stopped),
                                                  SyncRun.status.in_([SyncRun.RUNNING, SyncRun.QUEUED]))
                            .values(status=SyncRun.FAILED, finished_at=now,
                                    error="The sync stopped unexpectedly (its worker died).")
                            .execution_options(synchronize_session=False))
    count = len(dead) + len(orphan_runs)
    return Finding("locks with dead holders", count, count if repair else 0,
                   f"{len(dead)} locks, {len(orphan_runs)} runs without a lock" if count else "")


def optimize(session: Session) -> list[str]:
    """Refresh planner statistics (and reclaim space) the way each backend wants it."""
    bind = session.get_bind()
    name = bind.dialect.name
    churned = ["sync_operation", "sync_run", "submission"]
    if name == "sqlite":
        statements = ["ANALYZE", "PRAGMA optimize"]
    elif name in ("mysql", "mariadb"):
        statements = [f"ANALYZE TABLE {', '.join(churned)}", f"OPTIMIZE TABLE {', '.join(churned[:2])}"]
    else:
        statements = [f"VACUUM (ANALYZE) {table}" for table in churned]
    session.commit()
    with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM refuses transactions
        if name in ("mysql", "mariadb"):
            # OPTIMIZE waits for every open transaction on the table (metadata lock): give up
            # after a while instead of stalling the scheduler; tomorrow's run tries again.
            conn.exec_driver_sql("SET SESSION lock_wait_timeout = 10")
        done = []
        for statement in statements:
            try:
                result = conn.exec_driver_sql(statement)
                if result.returns_rows:  # MariaDB answers ANALYZE/OPTIMIZE with a status table
                    result.fetchall()
                done.append(statement)
            except Exception as exc:  # noqa: BLE001 - statistics are an optimisation, never a failure
                log.warning("event=optimize_skipped statement=%r error=%s", statement, type(exc).__name__)
    return done


SEEN_EVENT_DAYS = 30


def seen_event_days(config) -> int:
    """How long seen webhook ids are kept: 30 days, and always longer than a Live Event is valid
    (CANVAS_LIVE_EVENTS_MAX_AGE_S), so no replay outlives the record that stops it."""
    valid_s = float(config.get("CANVAS_LIVE_EVENTS_MAX_AGE_S") or 0) + float(config.get("CANVAS_LIVE_EVENTS_LEEWAY_S")
                                                                            or 0)
    return max(SEEN_EVENT_DAYS, math.ceil(valid_s / 86400) + 1)


def run(session: Session, config, *, now: datetime | None = None, repair: bool = True,
        analyze: bool = True) -> dict:
    now = now or utcnow()
    retention = Retention.from_config(config)
    report = {"purged": purge_operations(session, now, retention) if repair else {},
              "history": compact_history(session, now, retention) if repair else {},
              "checks": [f.__dict__ for f in check_consistency(session, now, repair=repair)],
              "hub": purge_history(session, now, event_days=seen_event_days(config)) if repair else {},
              "optimized": optimize(session) if analyze else []}
    log.info("event=maintenance_done purged=%s compacted=%s", sum(report["purged"].values()),
             report["history"].get("runs_compacted", 0))
    return report
