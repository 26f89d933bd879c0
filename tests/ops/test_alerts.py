"""Alerts: opened once per episode, sent once per channel (webhook, SMTP), resolved when the cause clears."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SyncAlert, SyncOperation, User
from app.models.types import utcnow
from app.ops.alerts import Notifier, Thresholds, evaluate
from app.sync import queue
from tests.helpers import fast_service, make_canvas_user

QUIET = Thresholds(failures_in_a_row=3, no_success=timedelta(days=365), queue_backlog=1000)


def hook_posts(httpserver) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log if request.path == "/hook"]


@pytest.mark.timeout(60)
def test_a_user_failing_n_times_alerts_the_webhook_once_and_resolves(app, canvas_sandbox, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    notifier = Notifier({"ALERT_WEBHOOK_URL": httpserver.url_for("/hook")})
    user = make_canvas_user(canvas_sandbox)
    user.canvas_token = "wrong-token"
    db.session.commit()
    for attempt in range(3):
        assert not fast_service(user).sync_all_data().ok  # real runs, refused by the sandbox Canvas
        result = evaluate(db.session, QUIET, notifier)
        assert bool(result["opened"]) == (attempt == 2)
    for _ in range(3):  # the episode goes on: nothing new is sent
        evaluate(db.session, QUIET, notifier)
    posts = hook_posts(httpserver)
    assert [p["state"] for p in posts] == ["firing"] and posts[0]["kind"] == SyncAlert.USER_FAILING
    assert "wrong-token" not in json.dumps(posts)

    user.canvas_token = canvas_sandbox.token
    db.session.commit()
    assert fast_service(user).sync_all_data().ok
    assert evaluate(db.session, QUIET, notifier)["resolved"]
    evaluate(db.session, QUIET, notifier)
    assert [p["state"] for p in hook_posts(httpserver)] == ["firing", "resolved"]
    alert = db.session.scalar(select(SyncAlert))
    assert alert.status == SyncAlert.RESOLVED and alert.sent_to == "webhook" and alert.resolution_sent_to == "webhook"


def test_a_channel_that_failed_is_tried_again(app, httpserver):
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("ok")
    notifier = Notifier({"ALERT_WEBHOOK_URL": httpserver.url_for("/hook")})
    backlog = Thresholds(failures_in_a_row=3, no_success=timedelta(days=365), queue_backlog=0)
    queue.enqueue(db.session, "hub_delivery")
    evaluate(db.session, backlog, notifier)
    assert db.session.scalar(select(SyncAlert.sent_to)) is None
    evaluate(db.session, backlog, notifier)
    evaluate(db.session, backlog, notifier)
    assert db.session.scalar(select(SyncAlert.sent_to)) == "webhook"
    assert [p["state"] for p in hook_posts(httpserver)] == ["firing", "firing"]  # one refused, one delivered


def test_queue_backlog_is_emailed_once_and_resolved(app, smtp_server):
    inbox, port = smtp_server
    notifier = Notifier({"ALERT_EMAIL_TO": "ops@school.example, it@school.example", "SMTP_HOST": "127.0.0.1",
                         "SMTP_PORT": port, "SMTP_FROM": "canvasflow@school.example"})
    backlog = Thresholds(failures_in_a_row=3, no_success=timedelta(days=365), queue_backlog=2)
    ops = [queue.enqueue(db.session, "hub_delivery")[0].id for _ in range(3)]
    evaluate(db.session, backlog, notifier)
    evaluate(db.session, backlog, notifier)
    deadline = time.monotonic() + 5
    while len(inbox.messages) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert sorted(message.rcpt_tos) == ["it@school.example", "ops@school.example"]
    assert b"3 operations are waiting" in message.content and b"Subject: [Canvas Flow] Alert" in message.content
    for op_id in ops:
        db.session.get(SyncOperation, op_id).status = SyncOperation.COMPLETED
    db.session.commit()
    evaluate(db.session, backlog, notifier)
    assert len(inbox.messages) == 2 and b"Subject: [Canvas Flow] Resolved" in inbox.messages[1].content


def test_no_success_for_too_long_opens_and_a_success_resolves(app, canvas_sandbox):
    stale = Thresholds(failures_in_a_row=3, no_success=timedelta(hours=24), queue_backlog=1000)
    user = make_canvas_user(canvas_sandbox)
    user.created_at = utcnow() - timedelta(hours=30)
    db.session.add(User(email="never-connected@example.com", password_hash="x", created_at=utcnow() - timedelta(days=9)))
    db.session.commit()
    opened = evaluate(db.session, stale, Notifier({}))["opened"]
    assert [db.session.get(SyncAlert, i).subject for i in opened] == [f"user:{user.id}"]  # only connected users
    assert fast_service(user).sync_all_data().ok
    assert evaluate(db.session, stale, Notifier({}))["resolved"] == opened
