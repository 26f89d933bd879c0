"""Settings: the save-time checks make real calls (sandboxes and the hostile upstream over HTTP)."""
from __future__ import annotations

import time

import pytest

from app.extensions import db
from app.models import UserConnection
from app.models.canvas import CLASSROOM, SCHOOLOGY
from app.sync.jobs import source_pull
from app.web.settings import routes as settings_routes
from app.web.settings import sources as sources_routes
from tests.web.conftest import csrf_token, login, make_user


@pytest.fixture
def me(client, app):
    user = make_user("checks@example.edu")
    login(client, user.email)
    return user


@pytest.fixture
def pulls_queued_not_run(monkeypatch):
    monkeypatch.setattr(sources_routes, "request_pull", lambda connection, *, trigger, full=False:
                        source_pull.request_pull(connection, trigger=trigger, full=full, notify=False))


@pytest.fixture
def production_rules(app, monkeypatch):
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_CANVAS_URLS", False)
    monkeypatch.setitem(app.config, "REQUIRE_HTTPS_CANVAS_URLS", True)
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_HOSTS", "localhost")  # the hostile server's name


def save_canvas(client, base_url, token):
    return client.post("/settings/", data={"base_url": base_url, "token": token,
                                           "csrf_token": csrf_token(client, "/settings/")})


def test_a_token_scoped_to_users_self_is_refused_at_save_naming_the_scope(client, me, canvas_sandbox):
    response = save_canvas(client, canvas_sandbox.base_url, canvas_sandbox.scoped_token)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "may not list your courses" in text and "url:GET|/api/v1/courses" in text
    assert "Nothing was saved." in text
    db.session.refresh(me)
    assert not me.has_canvas


def test_a_full_token_is_saved(client, me, canvas_sandbox):
    assert save_canvas(client, canvas_sandbox.base_url, canvas_sandbox.token).status_code == 302
    db.session.refresh(me)
    assert me.has_canvas and me.canvas_base_url == canvas_sandbox.base_url


def test_a_redirect_to_loopback_during_the_check_is_refused_and_nothing_saved(client, me, hostile_upstream,
                                                                              production_rules):
    response = save_canvas(client, hostile_upstream.base_url("redirect-loopback"), "7~hostile-check-token")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Canvas redirected users/self to another address; not following it." in text
    assert "INTERNAL-SECRET-ANSWER" not in text
    assert hostile_upstream.internal_requests == []
    db.session.refresh(me)
    assert me.canvas_base_url is None


def test_a_slow_drip_does_not_hold_the_save(client, me, hostile_upstream, production_rules, monkeypatch):
    monkeypatch.setattr(settings_routes, "VERIFY_DEADLINE_S", 2.0)
    started = time.monotonic()
    response = save_canvas(client, hostile_upstream.base_url("drip"), "7~hostile-check-token")
    assert response.status_code == 400
    assert "took too long to answer users/self" in response.get_data(as_text=True)
    assert time.monotonic() - started < 30  # the drip alone would take 100 s


def test_an_upstream_error_body_never_reaches_the_page(client, me, hostile_upstream, production_rules):
    response = save_canvas(client, hostile_upstream.base_url("error-body"), "7~hostile-check-token")
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "evil.example" not in text and "internal detail" not in text


def save_classroom(client, url, token):
    return client.post("/settings/classroom", data={"classroom-token": token, "classroom-token_kind": "oauth",
                                                    "classroom-api_url": url,
                                                    "classroom-csrf_token": csrf_token(client, "/settings/")})


def save_schoology(client, url, key, secret):
    return client.post("/settings/schoology", data={"schoology-base_url": url, "schoology-consumer_key": key,
                                                    "schoology-consumer_secret": secret,
                                                    "schoology-csrf_token": csrf_token(client, "/settings/")})


def connection(user, system):
    return db.session.query(UserConnection).filter_by(user_id=user.id, system=system).one_or_none()


def test_classroom_credentials_are_checked_with_one_real_call(client, me, classroom_sandbox, pulls_queued_not_run):
    response = save_classroom(client, classroom_sandbox.base_url, "wrong-classroom-token")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Google Classroom rejected the access token" in text and "Nothing was saved." in text
    assert connection(me, CLASSROOM) is None
    assert save_classroom(client, classroom_sandbox.base_url, classroom_sandbox.token).status_code == 302
    assert connection(me, CLASSROOM) is not None
    assert [e.status for e in classroom_sandbox.requests("/v1/courses")] == [401, 200]


def test_schoology_credentials_are_checked_with_one_real_call(client, me, schoology_sandbox, pulls_queued_not_run):
    sb = schoology_sandbox
    response = save_schoology(client, sb.api_url, sb.consumer_key, "wrong-schoology-secret")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Schoology refused the OAuth signature" in text and "Nothing was saved." in text
    assert "wrong-schoology-secret" not in text
    assert connection(me, SCHOOLOGY) is None
    assert save_schoology(client, sb.api_url, sb.consumer_key, sb.consumer_secret).status_code == 302
    assert connection(me, SCHOOLOGY) is not None
