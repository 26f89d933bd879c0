"""The operations dashboard: renders seeded history, filters it, and each control changes the queue."""
from __future__ import annotations

import random
import re
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import SyncAlert, SyncOperation, SyncRun
from app.models.types import utcnow
from app.sync import queue
from tests.web.conftest import login, make_user, post

Op = SyncOperation


def seed_history(users, *, days: int = 30, seed: int = 7) -> dict:
    """Runs spread over the last 30 days, a few failing with causes; returns counts by status."""
    rng = random.Random(seed)
    now, counts = utcnow(), {}
    for i in range(days * 6):
        started = now - timedelta(hours=rng.uniform(0.2, days * 24 - 1))
        status = rng.choices(["succeeded", "partial", "failed"], weights=[8, 1, 2])[0]
        error = {"failed": rng.choice(["Canvas rejected the access token (expired).",
                                       "Canvas could not be reached: timed out."]),
                 "partial": "Some courses could not be synced: Biology (403)"}.get(status)
        db.session.add(SyncRun(user_id=users[i % len(users)].id, trigger=rng.choice(["schedule", "button"]),
                               kind=rng.choice(["incremental", "full"]), status=status, started_at=started,
                               finished_at=started + timedelta(seconds=rng.uniform(1, 40)), requests=42,
                               throttles=rng.choice([0, 0, 1]), error=error))
        counts[status] = counts.get(status, 0) + 1
    db.session.add(SyncAlert(kind=SyncAlert.USER_FAILING, subject=f"user:{users[0].id}", user_id=users[0].id,
                             message=f"The last 3 syncs of {users[0].email} failed", status=SyncAlert.OPEN,
                             sent_to="webhook"))
    db.session.commit()
    return counts


def test_dashboard_renders_seeded_history_with_charts(client, app):
    admin = make_user("admin@example.edu", admin=True)
    students = [make_user(f"s{i}@example.edu", canvas=True) for i in range(3)]
    counts = seed_history(students)
    login(client, admin.email)
    page = client.get("/admin/sync").get_data(as_text=True)
    assert page.count("<svg class=\"chart\"") == 2 and "bar-failed" in page and "bar-succeeded" in page
    bars = re.findall(r'class="bar-(\w+)"><title>', page)
    assert set(bars) == {"succeeded", "partial", "failed"}
    assert "Canvas rejected the access token (expired)." in page and "The last 3 syncs of s0@example.edu" in page
    assert "<script src=\"http" not in page and "cdn" not in page.lower()  # everything from our origin
    filtered = client.get("/admin/sync?status=failed&user=s1@").get_data(as_text=True)
    rows = re.findall(r'<tr><td><a href="/sync/runs/\d+">\d+</a></td><td>([^<]+)</td><td>[\w ]+</td>\s*'
                      r'<td>[\w ]+</td><td>(\w+)</td>', filtered.split("<h2>History</h2>")[1])
    assert rows and {email for email, _ in rows} == {"s1@example.edu"} and {s for _, s in rows} == {"failed"}
    total = db.session.scalar(select(db.func.count()).select_from(SyncRun))
    assert total == sum(counts.values())


def test_dashboard_is_for_admins_only(client, app):
    student = make_user("student@example.edu", canvas=True)
    login(client, student.email)
    assert client.get("/admin/sync").status_code == 403
    assert post(client, "/admin/sync/queue/pause").status_code == 403


def test_each_control_changes_the_queue(client, app):
    admin = make_user("admin@example.edu", admin=True)
    login(client, admin.email)
    # A kind nobody handles (hub_delivery has a handler since the hub was merged): the forced run's error says so.
    failed, _ = queue.enqueue(db.session, "no_handler_kind", entity_type="topic", entity_id=1)
    failed.status = Op.FAILED
    waiting, _ = queue.enqueue(db.session, "no_handler_kind", run_at=utcnow() + timedelta(hours=1))
    db.session.commit()
    failed_id, waiting_id = failed.id, waiting.id

    assert post(client, "/admin/sync/queue/pause", {"kind": ""}, token_from="/admin/sync").status_code == 303
    assert queue.paused_kinds(db.session) == ["*"]
    post(client, "/admin/sync/queue/pause", {"kind": "no_handler_kind"}, token_from="/admin/sync")
    post(client, "/admin/sync/queue/resume", {"kind": ""}, token_from="/admin/sync")
    assert queue.paused_kinds(db.session) == ["no_handler_kind"]
    post(client, "/admin/sync/queue/resume", {"kind": "no_handler_kind"}, token_from="/admin/sync")
    assert queue.paused_kinds(db.session) == []

    post(client, f"/admin/sync/operations/{waiting_id}/force", token_from="/admin/sync")
    app.extensions["sync_executor"].wait_idle()
    db.session.rollback()  # a fresh snapshot: the worker thread wrote meanwhile
    forced = db.session.get(Op, waiting_id)
    assert forced.started_at is not None and forced.attempts == 1  # ran at once, not in an hour
    assert forced.error_message == "No handler for operations of kind 'no_handler_kind'."
    asked = post(client, f"/admin/sync/operations/{failed_id}/skip", token_from="/admin/sync")
    assert asked.status_code == 200 and "Skip operation" in asked.get_data(as_text=True)  # asked first
    assert db.session.get(Op, failed_id).status == Op.FAILED
    post(client, f"/admin/sync/operations/{failed_id}/skip", {"confirm": "yes"}, token_from="/admin/sync")
    db.session.rollback()  # a fresh snapshot: the worker thread wrote meanwhile
    assert db.session.get(Op, failed_id).status == Op.SKIPPED
    post(client, f"/admin/sync/operations/{failed_id}/retry", token_from="/admin/sync")
    app.extensions["sync_executor"].wait_idle()
    db.session.rollback()  # a fresh snapshot: the worker thread wrote meanwhile
    retried = db.session.get(Op, failed_id)
    assert retried.started_at is not None and retried.attempts == 1  # back in the queue and run again
    assert client.post(f"/admin/sync/operations/{failed_id}/retry").status_code == 400  # no CSRF token


def test_a_users_history_page_has_their_own_chart(client, app):
    me, other = make_user("me@example.edu", canvas=True), make_user("other@example.edu", canvas=True)
    now = utcnow()
    for user, status in ((me, "failed"), (other, "succeeded"), (other, "succeeded")):
        db.session.add(SyncRun(user_id=user.id, kind="full", trigger="button", status=status,
                               started_at=now - timedelta(days=2), finished_at=now - timedelta(days=2)))
    db.session.commit()
    login(client, me.email)
    page = client.get("/sync/history").get_data(as_text=True)
    assert 'class="bar-failed"' in page and 'class="bar-succeeded"' not in page  # only my runs
