"""On SQLite, replies posted from the Discussions page while a Canvas sync and the hub's pulls run
all reach both sides, and no operation fails on "database is locked".

The demo's setup (app/demo.py) on a SQLite file, served on an ephemeral port with its scheduler and
thread workers; the replies are real HTTP form posts.
"""
from __future__ import annotations

import time

import requests
from sqlalchemy import select

from app.demo import start_demo
from app.extensions import db
from app.models import DiscussionTopic, SyncOperation, User
from app.sync import queue
from app.sync.hub import HUB_PULL
from app.sync.jobs.canvas_sync import request_sync
from app.sync.scheduler import start_scheduler
from tests.conftest import make_test_app
from tests.helpers import serving
from tests.web.conftest import CSRF_RE

REPLIES = 50
DEADLINE_S = 240.0  # generous: the bound only stops a hung run


def _csrf(http: requests.Session, url: str) -> str:
    return CSRF_RE.search(http.get(url, timeout=30).text).group(1)


def test_fifty_page_replies_during_a_sync_and_a_pull_reach_both_sides(tmp_path):
    from flask_migrate import upgrade

    app = make_test_app(f"sqlite:///{tmp_path / 'load.db'}", DEMO_SANDBOX_PORT=0, DEMO_DISCOURSE_PORT=0,
                        SYNC_SCHEDULE_ENABLED=True)
    with app.app_context():
        upgrade()
    demo = start_demo(app)
    scheduler = start_scheduler(app)
    try:
        with serving(app, "load-server") as base, app.app_context():
            user = db.session.scalar(select(User).where(User.email == app.config["DEMO_EMAIL"]))
            topic_id = db.session.scalar(select(DiscussionTopic.id).where(
                DiscussionTopic.title == "Welcome: introduce yourself"))
            http = requests.Session()
            http.post(f"{base}/login", data={"email": user.email, "password": app.config["DEMO_PASSWORD"],
                                             "csrf_token": _csrf(http, f"{base}/login")}, timeout=30)
            page = f"{base}/courses/{demo.course_id}/discussions"
            token = _csrf(http, page)
            # A full Canvas sync and both pulls, queued at once: they run while the replies are posted.
            request_sync(user.id, trigger="button", incremental=False)
            for system, owner in (("canvas", user.id), ("discourse", None)):
                queue.submit(db.session, HUB_PULL, source_system=system, target_system="local", user_id=owner)
            texts = [f"Load reply number {n:02d} from the page" for n in range(REPLIES)]
            for text in texts:
                answer = http.post(f"{page}/topics/{topic_id}/replies", data={"body": text, "csrf_token": token},
                                   allow_redirects=False, timeout=60)
                assert answer.status_code == 303, answer.text[:300]

            def arrived() -> tuple[int, int]:
                canvas = {e.get("message") or "" for e in list(demo.canvas.data.entries.values())}
                forum = {p.raw or "" for p in list(demo.discourse.forum.posts.values())}
                return (sum(any(t in m for m in canvas) for t in texts), sum(any(t in r for r in forum) for t in texts))

            deadline = time.monotonic() + DEADLINE_S
            while arrived() != (REPLIES, REPLIES):
                assert time.monotonic() < deadline, f"arrived (Canvas, Discourse): {arrived()} of {REPLIES}"
                time.sleep(0.5)
            db.session.expire_all()
            errors = db.session.scalars(select(SyncOperation.error_message).where(
                SyncOperation.error_message.is_not(None))).all()
            assert not [e for e in errors if "database is locked" in e], errors
            kinds = set(db.session.scalars(select(SyncOperation.kind).where(
                SyncOperation.status == SyncOperation.COMPLETED)))
            assert {"canvas_sync", "hub_pull", "hub_delivery"} <= kinds
    finally:
        scheduler.shutdown(wait=False)
        demo.stop()
