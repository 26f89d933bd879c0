"""The Operations page with seeded pending, failed and paused work: counts equal to the queue's,
errors in plain words without SQL, controls only where they apply, names, and /healthz's pause."""
from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import ServiceHeartbeat, SyncOperation, SyncRun
from app.models.types import utcnow
from app.sync import queue
from app.web.admin.words import plain_error
from tests.web.conftest import login, make_user

Op = SyncOperation
SQL_ERROR = ("(pymysql.err.IntegrityError) (1062, \"Duplicate entry '5' for key 'uq_post'\")\n"
             "[SQL: INSERT INTO discussion_post (topic_id, body) VALUES (%(topic_id)s, %(body)s)]\n"
             "[parameters: {'topic_id': 5, 'body': 'My private reply text'}]\n"
             "(Background on this error at: https://sqlalche.me/e/20/gkpj)")


def seed(student):
    now = utcnow()
    for i in range(4):  # pending: two due now, two waiting out a backoff
        db.session.add(Op(kind="canvas_sync", user_id=student.id, status=Op.PENDING,
                          next_attempt_at=now + (timedelta(minutes=10) if i % 2 else -timedelta(minutes=1))))
    for _ in range(2):
        db.session.add(Op(kind="hub_delivery", entity_type="discussion_post", entity_id="5", status=Op.FAILED,
                          attempts=5, error_class=Op.PERMANENT, error_message=SQL_ERROR, finished_at=now))
    run = SyncRun(user_id=student.id, trigger="schedule", kind="incremental", status=SyncRun.FAILED,
                  started_at=now - timedelta(minutes=3), finished_at=now - timedelta(minutes=2),
                  error="Canvas could not be reached: timed out.")
    db.session.add(run)
    db.session.flush()
    db.session.add(Op(kind="canvas_sync", user_id=student.id, status=Op.COMPLETED, finished_at=now,
                      result_json=json.dumps({"run_id": run.id, "status": "failed"})))
    db.session.commit()
    queue.pause(db.session, None, by="admin@example.edu")


def op_rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-op-id="(\d+)" data-status="\w+">(.*?)</tr>', page, re.S))


def test_operations_page_tells_the_truth(client, app):
    admin = make_user("admin@example.edu", admin=True)
    student = make_user("student@example.edu", canvas=True)
    seed(student)
    login(client, admin.email)
    page = client.get("/admin/sync").get_data(as_text=True)

    by_status = dict(db.session.execute(select(Op.status, func.count()).group_by(Op.status)).all())
    waiting = re.search(r'id="tile-waiting"><span class="big">(\d+)</span>', page).group(1)
    failed = re.search(r'id="tile-failed-ops"><span class="big">(\d+)</span>', page).group(1)
    assert (int(waiting), int(failed)) == (by_status["pending"], by_status["failed"]) == (4, 2)
    assert "2 due now" in page
    for status, count in by_status.items():
        assert re.search(rf'data-status="{status}">{status.replace("_", " ")} {count}<', page)

    assert "INSERT INTO" not in page and "My private reply text" not in page and "[SQL" not in page
    assert "A database rule refused the write (IntegrityError)" in page
    failed_table = page[page.index('id="failed-operations"'):]
    assert re.search(r"<td>A database rule refused the write \(IntegrityError\)</td><td>Discussion delivery</td>"
                     r"<td>2</td>", failed_table)

    rows = op_rows(page)
    for op in db.session.scalars(select(Op)):
        buttons = set(re.findall(r'<button type="submit" class="small">(\w+)</button>', rows[str(op.id)]))
        expected = {"pending": {"Skip", "Force"}, "failed": {"Retry", "Skip", "Force"}, "completed": set()}
        assert buttons == expected[op.status], (op.status, buttons)
        if op.user_id:
            assert "student@example.edu" in rows[str(op.id)] and "user " not in rows[str(op.id)]
    done = next(op for op in db.session.scalars(select(Op).where(Op.status == Op.COMPLETED)))
    assert "Done, the sync failed" in rows[str(done.id)]
    assert 'id="queue-paused"' in page and "The queue is paused: 4 operations wait until it is resumed" in page

    db.session.merge(ServiceHeartbeat(name="scheduler", owner="test", beat_at=utcnow(),
                                      expires_at=utcnow() + timedelta(minutes=3)))
    db.session.commit()
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["queue"] == "paused"
    queue.resume(db.session, None)
    assert client.get("/healthz").get_json()["queue"] == "ok"


def test_error_detail_never_carries_sql_or_parameters():
    summary, detail = plain_error(SQL_ERROR)
    assert summary == "A database rule refused the write (IntegrityError)"
    assert "INSERT" not in detail and "private reply" not in detail and "parameters" not in detail
    assert "Duplicate entry" in detail
    assert plain_error("Canvas could not be reached: timed out.")[0] == "Canvas could not be reached: timed out."


def test_charts_bin_by_calendar_day_in_the_viewers_zone(client, app):
    from app.ops.stats import calendar_chart
    from zoneinfo import ZoneInfo

    admin = make_user("zone-admin@example.edu", admin=True)
    tokyo = ZoneInfo("Asia/Tokyo")
    now = utcnow()
    started = now - timedelta(minutes=5)
    db.session.add(SyncRun(user_id=admin.id, trigger="button", kind="full", status="succeeded",
                           started_at=started, finished_at=now))
    db.session.commit()
    bars = calendar_chart(db.session, now, tokyo, days=30)
    assert bars[-1].label == now.astimezone(tokyo).strftime("%d %b")  # today's runs are under today
    assert bars[-1].values == {"succeeded": 1} and sum(sum(b.values.values()) for b in bars) == 1
    hours = calendar_chart(db.session, now, tokyo, hours=24)
    assert hours[-1].label == now.astimezone(tokyo).strftime("%H:00") and len(hours) == 24
