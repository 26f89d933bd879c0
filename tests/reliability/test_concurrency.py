"""20 sync requests for one user at the same moment make exactly one run."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Submission, SyncLock, SyncRun, User
from tests.helpers import fast_service, make_canvas_user
from tests.web.conftest import PASSWORD, csrf_token

N = 20


def _together(n: int, fn) -> list:
    results, errors = [None] * n, []
    barrier = threading.Barrier(n, timeout=30)

    def go(i):
        try:
            results[i] = fn(i, barrier)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors
    return results


@pytest.mark.timeout(120)
def test_twenty_sync_button_presses_make_one_run(app, make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=300)  # the sync outlasts all 20 presses
    user = make_canvas_user(sb)
    user.set_password(PASSWORD)
    db.session.commit()
    user_id, email = user.id, user.email
    clients = []
    for _ in range(N):
        client = app.test_client()
        with app.app_context():  # a fresh `g` per client: flask-login caches the user there
            response = client.post("/login", data={"email": email, "password": PASSWORD,
                                                   "csrf_token": csrf_token(client, "/login")})
            assert response.status_code == 302
        with app.app_context():
            clients.append((client, csrf_token(client, "/settings/")))
    db.session.remove()

    def press(i, barrier):
        client, token = clients[i]
        with app.app_context():
            barrier.wait()
            response = client.post("/sync/", data={"csrf_token": token}, headers={"Accept": "application/json"})
            db.session.remove()
        return response.status_code, response.get_json()

    answers = _together(N, press)
    assert {status for status, _ in answers} == {202}, answers
    assert len({body["run_id"] for _, body in answers}) == 1
    assert sorted(body["joined"] for _, body in answers) == [False] + [True] * (N - 1)  # one started

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.rollback()
        if db.session.scalar(select(func.count()).select_from(SyncRun).where(
                SyncRun.status.in_([SyncRun.QUEUED, SyncRun.RUNNING]))) == 0:
            break
        time.sleep(0.1)
    db.session.rollback()
    runs = db.session.execute(select(SyncRun.id, SyncRun.status).where(SyncRun.user_id == user_id)).all()
    assert len(runs) == 1 and runs[0][1] == SyncRun.SUCCEEDED, runs
    assert db.session.scalar(select(func.count()).select_from(Submission)) > 0
    assert db.session.scalar(select(func.count()).select_from(SyncLock)) == 0


@pytest.mark.timeout(120)
def test_twenty_service_calls_in_threads_make_one_run(app, make_canvas_sandbox):
    # Enough latency that the first sync outlasts the slowest thread's start on a loaded machine:
    # a call arriving after the run finished would rightly start a second one.
    sb = make_canvas_sandbox(latency_ms=150)
    user_id = make_canvas_user(sb).id
    db.session.remove()

    def call(i, barrier):
        with app.app_context():
            try:
                barrier.wait()  # before any connection is taken: the pool holds 15, not 20
                service = fast_service(db.session.get(User, user_id))
                result = service.sync_all_data()
                service.api.close()
                return result
            finally:
                db.session.remove()

    results = _together(N, call)
    assert sum(not r.joined for r in results) == 1
    assert len({r.run_id for r in results}) == 1
    started = next(r for r in results if not r.joined)
    assert started.ok, started.error
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 1
