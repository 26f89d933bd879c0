"""Settings: connecting Google Classroom and Schoology (encrypted, never shown back, CSRF, plain status)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Course, SyncOperation, UserConnection
from app.sync.jobs import source_pull
from app.sync.sources.store import SourceStore
from app.sync.connectors.base import Change
from app.web.settings import sources as sources_routes
from tests.web.conftest import csrf_token, login, make_user

CLASSROOM_TOKEN = "ya29.a0AfB_secret-classroom-token-Q7rT"
KEY, SECRET = "schoology-consumer-key-8d1f", "schoology-consumer-secret-k2m9"
SCHOOLOGY_URL = "http://127.0.0.1:8770/v1"


@pytest.fixture(autouse=True)
def queued_not_run(monkeypatch):
    """Pulls are queued for real but not handed to the thread pool (no connector runs here)."""
    calls = []

    def request_pull(connection, *, trigger, full=False):
        calls.append((connection.system, trigger, full))
        return source_pull.request_pull(connection, trigger=trigger, full=full, notify=False)

    monkeypatch.setattr(sources_routes, "request_pull", request_pull)
    return calls


@pytest.fixture(autouse=True)
def credentials_accepted(monkeypatch):
    """The save-time call is accepted (it is made for real in tests/web/test_settings_checks.py)."""
    calls = []
    monkeypatch.setattr(sources_routes, "check_credentials", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def me(client, app):
    user = make_user("me@example.edu")
    login(client, user.email)
    return user


def page(client) -> str:
    return client.get("/settings/").get_data(as_text=True)


def save_classroom(client, token, **extra):
    return client.post("/settings/classroom", data={"classroom-token": token, "classroom-token_kind": "oauth",
                                                    "classroom-api_url": "http://127.0.0.1:8771",
                                                    "classroom-csrf_token": csrf_token(client, "/settings/"),
                                                    **extra})


def save_schoology(client, key, secret, base_url=SCHOOLOGY_URL):
    return client.post("/settings/schoology", data={"schoology-base_url": base_url, "schoology-consumer_key": key,
                                                    "schoology-consumer_secret": secret,
                                                    "schoology-csrf_token": csrf_token(client, "/settings/")})


def connection(user, system) -> UserConnection | None:
    db.session.expire_all()
    return db.session.scalar(select(UserConnection).where(UserConnection.user_id == user.id,
                                                          UserConnection.system == system))


def test_settings_page_has_both_sections_with_csrf_tokens(client, me):
    text = page(client)
    for system in ("classroom", "schoology"):
        assert f'id="{system}-form"' in text and f'name="{system}-csrf_token"' in text
        assert f'id="{system}-status"' in text
    assert "Not connected." in text
    assert 'value="https://api.schoology.com/v1"' in text  # the default API address


def test_classroom_token_is_encrypted_hinted_and_a_full_pull_queued(client, me, queued_not_run):
    response = save_classroom(client, CLASSROOM_TOKEN)
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/#classroom")
    saved = connection(me, "classroom")
    assert saved.credentials == {"access_token": CLASSROOM_TOKEN, "token_kind": "oauth"}
    assert CLASSROOM_TOKEN not in saved.credentials_encrypted
    assert saved.base_url == "http://127.0.0.1:8771"
    assert queued_not_run == [("classroom", "settings", True)]
    op = db.session.scalars(select(SyncOperation)).one()
    assert (op.kind, op.user_id, json.loads(op.payload_json)["connection_id"]) == ("source_pull", me.id, saved.id)

    text = page(client)
    assert "Google Classroom saved. The first pull is queued" in text
    assert "ends in <code>...Q7rT</code>" in text
    assert CLASSROOM_TOKEN not in text and CLASSROOM_TOKEN[:-4] not in text


def test_classroom_needs_a_token_the_first_time(client, me):
    response = save_classroom(client, "")
    assert response.status_code == 400
    assert "Paste a Google Classroom access token." in response.get_data(as_text=True)
    assert connection(me, "classroom") is None


def test_a_post_without_its_csrf_token_is_refused(client, me):
    response = client.post("/settings/classroom", data={"classroom-token": CLASSROOM_TOKEN})
    assert response.status_code == 400
    assert connection(me, "classroom") is None


def test_schoology_key_and_secret_are_kept_secret_and_kept_on_an_empty_resave(client, me, queued_not_run):
    assert save_schoology(client, KEY, SECRET).status_code == 302
    saved = connection(me, "schoology")
    assert saved.credentials == {"consumer_key": KEY, "consumer_secret": SECRET}
    assert KEY not in saved.credentials_encrypted and SECRET not in saved.credentials_encrypted
    text = page(client)
    assert "ends in <code>...k2m9</code>" in text
    assert KEY not in text and SECRET not in text

    assert save_schoology(client, "", "").status_code == 302  # same address: the saved pair is kept
    saved = connection(me, "schoology")
    assert saved.credentials == {"consumer_key": KEY, "consumer_secret": SECRET}
    assert len(queued_not_run) == 2

    saved.state = {"cursor": "kept?"}
    db.session.commit()
    assert save_schoology(client, KEY, SECRET, base_url="http://127.0.0.1:8772/v1").status_code == 302
    saved = connection(me, "schoology")
    assert saved.base_url == "http://127.0.0.1:8772/v1"
    assert saved.state == {}  # another address: the next pull starts over, in full
    assert len(queued_not_run) == 3


def test_a_new_host_with_empty_credentials_is_refused(client, me, queued_not_run):
    assert save_schoology(client, KEY, SECRET).status_code == 302
    for key, secret in (("", ""), (KEY, "")):
        response = save_schoology(client, key, secret, base_url="http://127.0.0.1:8772/v1")
        assert response.status_code == 400
        assert "A new address needs the credentials again" in response.get_data(as_text=True)
    assert connection(me, "schoology").base_url == SCHOOLOGY_URL
    assert save_classroom(client, CLASSROOM_TOKEN).status_code == 302
    response = save_classroom(client, "", **{"classroom-api_url": "http://127.0.0.1:8779"})
    assert response.status_code == 400
    assert "A new address needs the credentials again" in response.get_data(as_text=True)
    assert connection(me, "classroom").base_url == "http://127.0.0.1:8771"
    assert len(queued_not_run) == 2


def test_schoology_without_a_secret_is_refused_in_plain_words(client, me):
    response = save_schoology(client, KEY, "")
    assert response.status_code == 400
    assert "Enter the consumer key and secret from Schoology" in response.get_data(as_text=True)
    assert KEY not in response.get_data(as_text=True)
    assert connection(me, "schoology") is None


def test_status_of_the_last_pull_in_plain_words(client, me):
    save_schoology(client, KEY, SECRET)
    saved = connection(me, "schoology")
    saved.status = UserConnection.FAILED
    saved.last_error = "Schoology refused the OAuth signature (401). Check the consumer key and secret."
    db.session.commit()
    text = page(client)
    assert "The last pull failed: Schoology refused the OAuth signature (401)." in text

    saved = connection(me, "schoology")
    saved.status, saved.last_error = UserConnection.OK, None
    saved.last_success_at = saved.created_at
    saved.last_counts_json = json.dumps({"summary": "2 courses (2 new), 5 assignments (5 new), 0 submissions"})
    db.session.commit()
    assert "2 courses (2 new), 5 assignments (5 new), 0 submissions." in page(client)


def test_pull_now_queues_once_and_joins(client, me, queued_not_run):
    save_classroom(client, CLASSROOM_TOKEN)
    token = csrf_token(client, "/settings/")
    response = client.post("/settings/classroom/pull", data={"csrf_token": token}, follow_redirects=True)
    assert "A Google Classroom pull was already queued." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SyncOperation)) == 1


def test_disconnect_deletes_credentials_and_hides_the_sources_courses(client, me):
    save_classroom(client, CLASSROOM_TOKEN)
    SourceStore(db.session, me.id, "classroom").store(
        [Change("classroom", "course", "C1", data={"name": "Classroom Biology", "raw": {}})])
    response = client.post("/settings/classroom/disconnect", data={"csrf_token": csrf_token(client, "/settings/"),
                                                                   "confirm": "yes"},
                           follow_redirects=True)
    assert "Google Classroom was disconnected and its credentials deleted." in response.get_data(as_text=True)
    assert connection(me, "classroom") is None
    assert db.session.scalar(select(Course.deleted_at).where(Course.external_id == "C1")) is not None


def test_one_user_cannot_act_on_anothers_connection(client, app):
    owner = make_user("owner@example.edu")
    other = UserConnection(user_id=owner.id, system="classroom")
    other.set_credentials({"access_token": CLASSROOM_TOKEN}, hint_from="access_token")
    db.session.add(other)
    db.session.commit()
    make_user("intruder@example.edu")
    login(client, "intruder@example.edu")
    token = csrf_token(client, "/settings/")
    assert client.post("/settings/classroom/pull", data={"csrf_token": token}).status_code == 404
    assert client.post("/settings/classroom/disconnect", data={"csrf_token": token}).status_code == 404
    assert client.post("/settings/canvas/pull", data={"csrf_token": token}).status_code == 404
    assert "Q7rT" not in page(client)
    assert connection(owner, "classroom") is not None


def test_source_forms_need_a_session(client, app):
    response = client.post("/settings/schoology", data={})
    assert response.status_code in (302, 400)
    assert db.session.scalar(select(func.count()).select_from(UserConnection)) == 0


def test_classroom_usage_outcome_shows_under_the_classroom_status(client, me):
    assert save_classroom(client, CLASSROOM_TOKEN).status_code in (200, 302)
    assert 'id="classroom-usage-status"' not in page(client)  # no usage run yet
    conn = connection(me, "classroom")
    conn.state = {**conn.state, "usage": {"at": "2026-12-01T09:00:00+00:00", "ok": False, "caught_up": False,
                                          "message": "Google refused the Classroom usage report: it needs a "
                                                     "Google Workspace administrator's access."}}
    db.session.commit()
    text = page(client)
    assert ('<p id="classroom-usage-status" class="source-status error">Usage by date: Google refused the '
            'Classroom usage report') in text
    assert CLASSROOM_TOKEN not in text
