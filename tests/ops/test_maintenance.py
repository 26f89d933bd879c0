"""Maintenance on seeded data, on every backend: retention, compaction, each repair, statistics."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import (Assignment, Course, HubConflict, HubTransaction, HubWebhookEvent, SyncDailySummary, SyncLock,
                        SyncOperation, SyncRun, Submission, Term, User)
from app.models.types import utcnow
from app.ops import maintenance

Op = SyncOperation
DAY = timedelta(days=1)


def _user(email="m@example.com") -> int:
    user = User(email=email, password_hash="x")
    db.session.add(user)
    db.session.commit()
    return user.id


def _op(kind, status, age_days, now):
    finished = now - age_days * DAY
    db.session.add(Op(kind=kind, status=status, attempts=1, max_attempts=5, priority=0, forced=False,
                      next_attempt_at=finished, created_at=finished, updated_at=finished, finished_at=finished))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def config(app, **overrides):
    return {**app.config, **overrides}


def test_retention_purges_30_day_completed_and_90_day_failed_per_kind(app):
    now = utcnow()
    for kind in ("canvas_sync", "hub_delivery"):
        for status, age in ((Op.COMPLETED, 29), (Op.COMPLETED, 31), (Op.SKIPPED, 31), (Op.FAILED, 89),
                            (Op.FAILED, 91)):
            _op(kind, status, age, now)
    db.session.commit()
    retention = maintenance.Retention.from_config(config(app, SYNC_RETENTION_BY_KIND="hub_delivery=7:30"))
    assert maintenance.purge_operations(db.session, now, retention) == {"completed": 5, "failed": 3}
    kept = sorted((k, s, round((now - f).days)) for k, s, f in db.session.execute(
        select(Op.kind, Op.status, Op.finished_at)))
    assert kept == [("canvas_sync", "completed", 29), ("canvas_sync", "failed", 89)]


def test_old_history_is_compacted_into_daily_rows_kept_a_year(app):
    now = utcnow()
    user_id = _user()
    old_day = now - 40 * DAY
    for status, seconds, requests in (("succeeded", 10, 40), ("failed", 2, 3), ("succeeded", 30, 50)):
        db.session.add(SyncRun(user_id=user_id, kind="incremental", trigger="schedule", status=status,
                               started_at=old_day, finished_at=old_day + timedelta(seconds=seconds),
                               requests=requests, throttles=1))
    db.session.add(SyncRun(user_id=user_id, kind="full", status="succeeded", started_at=now - DAY,
                           finished_at=now - DAY))
    db.session.add(SyncDailySummary(day=(now - 400 * DAY).date(), user_id=user_id, kind="full", runs=1, succeeded=1,
                                    partial=0, failed=0, requests=1, throttles=0, total_seconds=1, max_seconds=1))
    db.session.commit()
    report = maintenance.compact_history(db.session, now, maintenance.Retention())
    assert report["runs_compacted"] == 3 and report["summaries_purged"] == 1
    row = db.session.scalar(select(SyncDailySummary))
    assert (row.day, row.kind, row.runs, row.succeeded, row.failed, row.requests, row.throttles) == (
        old_day.date(), "incremental", 3, 2, 1, 93, 3)
    assert row.total_seconds == 42 and row.max_seconds == 30
    assert count(SyncRun) == 1  # the recent run stays as it is


def test_each_consistency_check_reports_then_repairs(app):
    now = utcnow()
    user_id = _user()
    term = Term(user_id=user_id, canvas_term_id=5, name="Fall")
    db.session.add(term)
    db.session.flush()
    gone = Course(user_id=user_id, canvas_course_id=1, name="Gone", deleted_at=now - DAY)
    unlinked = Course(user_id=user_id, canvas_course_id=2, name="No term",
                      raw_json=json.dumps({"id": 2, "term": {"id": 5, "name": "Fall"}}))
    db.session.add_all([gone, unlinked])
    db.session.flush()
    assignment = Assignment(course_id=gone.id, canvas_assignment_id=10, canvas_course_id=1, name="Essay")
    db.session.add(assignment)
    db.session.flush()
    db.session.add(Submission(course_id=gone.id, assignment_id=assignment.id, canvas_submission_id=100,
                              canvas_assignment_id=10, canvas_user_id=9))
    db.session.add(Op(kind="canvas_sync", status=Op.IN_PROGRESS, attempts=1, max_attempts=5, priority=0, forced=False,
                      next_attempt_at=now - DAY, lease_expires_at=now - 2 * timedelta(hours=1), worker_id="dead:1"))
    run = SyncRun(user_id=user_id, kind="full", status=SyncRun.RUNNING, started_at=now - DAY)
    lonely = SyncRun(user_id=user_id, kind="full", status=SyncRun.QUEUED, started_at=now - DAY)
    db.session.add_all([run, lonely])
    db.session.flush()
    db.session.add(SyncLock(user_id=user_id, run_id=run.id, owner="elsewhere:1:2", acquired_at=now - DAY,
                            expires_at=now - DAY + timedelta(minutes=10)))
    db.session.commit()

    found = {f.check: f for f in maintenance.check_consistency(db.session, now, repair=False)}
    assert {k: f.count for k, f in found.items()} == {"orphaned rows": 2, "operations stuck in progress": 1,
                                                      "courses with no term": 2, "locks with dead holders": 2}
    assert all(f.repaired == 0 for f in found.values()) and count(SyncLock) == 1  # a dry run changes nothing

    fixed = {f.check: f.repaired for f in maintenance.check_consistency(db.session, now)}
    assert fixed == {"orphaned rows": 2, "operations stuck in progress": 1, "courses with no term": 1,
                     "locks with dead holders": 2}
    assert count(Assignment, Assignment.deleted_at.is_(None)) == 0
    assert count(Submission, Submission.deleted_at.is_(None)) == 0
    assert db.session.scalar(select(Op.status)) == Op.PENDING
    assert db.session.scalar(select(Course.term_id).where(Course.canvas_course_id == 2)) == term.id
    assert count(SyncLock) == 0 and count(SyncRun, SyncRun.status == SyncRun.FAILED) == 2
    again = maintenance.check_consistency(db.session, now)
    assert sum(f.count for f in again) == 1  # only the course Canvas gave no term stays, reported


def test_flask_sync_maintain_runs_everything_and_analyzes(cli, app):
    now = utcnow()
    _op("canvas_sync", Op.COMPLETED, 45, now)
    db.session.commit()
    result = cli.invoke(args=["sync", "maintain"])
    assert result.exit_code == 0, result.output
    assert "purged operations: 1 completed, 0 failed" in result.output
    assert "check locks with dead holders: 0 found" in result.output
    assert "ran " in result.output and "ANALYZE" in result.output.upper()
    dry = cli.invoke(args=["sync", "maintain", "--dry-run", "--no-analyze"])
    assert "purged" not in dry.output and "check orphaned rows" in dry.output


def test_the_daily_run_purges_the_hubs_old_history_and_keeps_its_conflicts(app, cli):
    now = utcnow()
    old = now - 100 * DAY
    db.session.add_all([
        HubTransaction(action="deliver", changes_json="{}", created_at=old),
        HubTransaction(action="ingest", changes_json="{}", created_at=now),
        HubWebhookEvent(system="discourse", event_id="41", received_at=now - 31 * DAY),
        HubWebhookEvent(system="discourse", event_id="42", received_at=now),
        HubConflict(entity_type="discussion_post", local_id=1, local_system="canvas", remote_system="discourse",
                    local_json="{}", remote_json="{}", rule="PreferCanvas", result_json="{}", created_at=old)])
    db.session.commit()
    dry = maintenance.run(db.session, app.config, now=now, repair=False, analyze=False)
    assert dry["hub"] == {} and count(HubTransaction) == 2
    report = maintenance.run(db.session, app.config, now=now, analyze=False)
    assert report["hub"] == {"transactions": 1, "webhook_events": 1}
    assert db.session.scalars(select(HubWebhookEvent.event_id)).all() == ["42"]
    assert count(HubTransaction) == 1 and count(HubConflict) == 1
    result = cli.invoke(args=["sync", "maintain", "--no-analyze"])
    assert "hub history: 0 log rows and 0 seen webhook ids" in result.output


def test_seen_webhook_ids_outlive_the_longest_valid_live_event(app, monkeypatch):
    now = utcnow()
    db.session.add(HubWebhookEvent(system="canvas", event_id="jti-35-days", received_at=now - 35 * DAY))
    db.session.commit()
    monkeypatch.setitem(app.config, "CANVAS_LIVE_EVENTS_MAX_AGE_S", 40 * 86400)  # a 40-day window
    assert maintenance.run(db.session, app.config, now=now, analyze=False)["hub"]["webhook_events"] == 0
    monkeypatch.setitem(app.config, "CANVAS_LIVE_EVENTS_MAX_AGE_S", 3600)
    assert maintenance.seen_event_days(app.config) == 30
    assert maintenance.run(db.session, app.config, now=now, analyze=False)["hub"]["webhook_events"] == 1
