"""Connect Google Classroom through Google's consent (the sandbox serves Google's OAuth endpoints),
then pulls refresh the access token as Google does."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import Course, SyncOperation, UserConnection
from app.sync import queue
from app.sync.executors import get_executor
from app.sync.jobs.source_pull import SOURCE_PULL, request_pull
from tests.helpers import SteppingClock
from tests.web.conftest import login, make_user

TIMEOUT = 10


@pytest.fixture
def google(app, make_classroom_sandbox, monkeypatch):
    sandbox = make_classroom_sandbox(oauth_token_lifetime_s=2)
    for name, value in {"GOOGLE_OAUTH_CLIENT_ID": sandbox.oauth.client_id,
                        "GOOGLE_OAUTH_CLIENT_SECRET": sandbox.oauth.client_secret,
                        "GOOGLE_OAUTH_AUTH_BASE": sandbox.base_url, "GOOGLE_OAUTH_TOKEN_BASE": sandbox.base_url,
                        "CLASSROOM_API_URL": sandbox.base_url}.items():
        monkeypatch.setitem(app.config, name, value)
    yield sandbox
    # The consent callback queues the first pull for the app's thread pool: let it end first.
    get_executor(app).wait_idle()


def consent(client) -> str:
    response = client.get("/auth/google/login")
    assert response.status_code == 302
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert all(s.endswith(".readonly") for s in query["scope"][0].split())
    page = requests.get(location, timeout=TIMEOUT).text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.split("</form>")[0]))
    base = location.split("/o/oauth2/", 1)[0]
    back = requests.post(base + "/o/oauth2/v2/approve", data=fields, allow_redirects=False, timeout=TIMEOUT)
    parts = urlsplit(back.headers["Location"])
    assert parts.path == "/auth/google/callback"
    return f"{parts.path}?{parts.query}"


def run_pulls(connection_id: int, until) -> None:
    """Run queued pulls here (or let the app's worker finish one it took first) until `until()`
    holds; bounded. Each look starts a fresh transaction, so MariaDB's snapshot sees the worker."""
    deadline = time.monotonic() + 60
    while True:
        queue.process_available(db.session, worker_id="consent-test", kinds=[SOURCE_PULL], max_operations=1)
        db.session.commit()
        if until() or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def open_pulls(connection_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(SyncOperation).where(
        SyncOperation.kind == SOURCE_PULL, SyncOperation.entity_id == str(connection_id),
        SyncOperation.status.in_(SyncOperation.OPEN_STATUSES)))


def pull(connection_id: int) -> SyncOperation:
    op, joined = request_pull(db.session.get(UserConnection, connection_id), notify=False)
    assert not joined  # a pull of its own, not one already under way
    run_pulls(connection_id, lambda: db.session.get(SyncOperation, op.id).status not in SyncOperation.OPEN_STATUSES)
    return db.session.get(SyncOperation, op.id)


def classroom_courses() -> dict:
    return dict(db.session.execute(select(Course.external_id, Course.name).where(
        Course.source_system == "classroom", Course.deleted_at.is_(None))).all())


def connected(client, google) -> UserConnection:
    user = make_user("classroom@example.edu")
    login(client, user.email)
    assert client.get(consent(client)).status_code == 302
    connection = db.session.scalar(select(UserConnection).where(UserConnection.user_id == user.id))
    # The first pull, queued by the callback: run here, or by the app's worker if it took it first.
    run_pulls(connection.id, lambda: open_pulls(connection.id) == 0)
    connection = db.session.get(UserConnection, connection.id)
    assert connection.status == UserConnection.OK, connection.last_error
    return connection


def test_consent_stores_tokens_and_pulls_across_several_expiries(app, client, google):
    connection = connected(client, google)
    credentials = connection.credentials
    assert credentials["refresh_token"] and credentials["access_token"]
    assert credentials["refresh_token"] not in connection.credentials_encrypted
    assert classroom_courses() == {cid: c["name"] for cid, c in google.data.courses.items()}

    # Every token lookup moves Google's clock 0.4 s: a 2-second token lasts about five requests.
    google.oauth.clock = SteppingClock(0.4)
    google.oauth.expire_access_tokens()
    google.mutate("rename_course", course_id=next(iter(google.data.courses)), name="Renamed at Google")
    before = google.oauth.refreshes
    op = pull(connection.id)
    assert op.status == SyncOperation.COMPLETED, op.error_message
    assert google.oauth.refreshes - before >= 2
    assert classroom_courses() == {cid: c["name"] for cid, c in google.data.courses.items()}
    # The newest access token was kept for the next pull; the refresh token is unchanged.
    kept = db.session.get(UserConnection, connection.id).credentials
    assert kept["refresh_token"] == credentials["refresh_token"]
    assert google.oauth.valid_access(kept["access_token"])


def test_revoked_consent_asks_to_connect_again_and_keeps_data(app, client, google):
    connection = connected(client, google)
    before = classroom_courses()
    assert before
    google.oauth.revoke_all()  # removed at myaccount.google.com
    op = pull(connection.id)
    assert op.status != SyncOperation.COMPLETED
    connection = db.session.get(UserConnection, connection.id)
    assert "Connect Google Classroom again; your synced data is kept." in (connection.last_error or "")
    assert classroom_courses() == before


def test_consent_needs_a_session(app, client, google):
    for url in ("/auth/google/login", "/auth/google/callback?code=x&state=y"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("state", [None, "forged"])
def test_wrong_or_missing_state_connects_nothing(app, client, google, state):
    user = make_user("state@example.edu")
    login(client, user.email)
    callback = consent(client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if state is None:
        query.pop("state")
    else:
        query["state"] = state
    response = client.get("/auth/google/callback", query_string=query)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(UserConnection)) == 0
    assert google.oauth.code_exchanges == 0


def test_reused_code_gives_a_plain_page_and_no_token_leaks(app, client, google, caplog):
    caplog.set_level("DEBUG")
    user = make_user("reuse@example.edu")
    login(client, user.email)
    callback = consent(client)
    first = client.get(callback, follow_redirects=True).get_data(as_text=True)
    fresh = parse_qs(urlsplit(consent(client)).query)
    old = parse_qs(urlsplit(callback).query)
    response = client.get("/auth/google/callback", query_string={"code": old["code"][0],
                                                                 "state": fresh["state"][0]})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "already used or has expired" in body and "Traceback" not in body
    credentials = db.session.scalar(select(UserConnection)).credentials
    settings = client.get("/settings/").get_data(as_text=True)
    for secret in (credentials["access_token"], credentials["refresh_token"], old["code"][0],
                   google.oauth.client_secret):
        assert secret not in caplog.text and secret not in first and secret not in body and secret not in settings
