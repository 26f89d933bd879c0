"""Bad input fuzzed into the settings, login and sync endpoints: a clear 4xx, nothing stored.

Hypothesis draws the input; every example is a real request through the app (CSRF on),
and URLs that pass the form's checks go to real sockets on 127.0.0.1 only: the sandbox
(with a wrong token or a wrong path) or a closed port. Bounded: a few dozen examples
per test, no deadline (each example may do an HTTP round trip).
"""
from __future__ import annotations

import re
import socket

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.extensions import db
from app.models import SyncRun, User
from tests.web.conftest import PASSWORD, csrf_token, make_user

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

junk = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
not_a_url = junk.filter(lambda s: not s.strip().lower().startswith(("http://", "https://")))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh(app):
    """A test client with its own `g` (flask-login caches the user there)."""
    client = app.test_client()
    return client


def logged_in(app, email: str):
    client = app.test_client()
    with app.app_context():
        response = client.post("/login", data={"email": email, "password": PASSWORD,
                                               "csrf_token": csrf_token(client, "/login")})
        assert response.status_code == 302
    return client


def stored_canvas(user_id: int):
    db.session.rollback()
    return db.session.execute(select(User.canvas_base_url, User.canvas_token_encrypted, User.canvas_user_id)
                              .where(User.id == user_id)).one()


@pytest.mark.timeout(240)
def test_settings_refuse_bad_urls_and_tokens_and_store_nothing(app, canvas_sandbox):
    user_id = make_user("fuzz@example.edu").id
    client = logged_in(app, "fuzz@example.edu")
    dead = f"http://127.0.0.1:{closed_port()}"
    sandbox_urls = st.builds(lambda path: canvas_sandbox.base_url + path,
                             st.sampled_from(["", "/", "/api/v1", "/x", "/courses", "/%00", "/../.."]))
    urls = st.one_of(not_a_url, sandbox_urls, st.just(dead), st.sampled_from([
        "javascript:alert(1)", "ftp://127.0.0.1/", "http://user:pw@127.0.0.1/", "http://", "https://[::1",
        "http://127.0.0.1:99999/", "file:///etc/passwd", " ", ""]))
    tokens = st.one_of(junk, st.sampled_from(["", " ", "\x00", "a" * 501, canvas_sandbox.expired_token,
                                              canvas_sandbox.revoked_token]))

    @FUZZ
    @given(base_url=urls, token=tokens)
    def check(base_url, token):
        assume(token.strip() != canvas_sandbox.token)
        with app.app_context():
            response = client.post("/settings/", data={"base_url": base_url, "token": token,
                                                       "csrf_token": csrf_token(client, "/settings/")})
        assert response.status_code == 400, (base_url, token, response.status_code)
        page = response.get_data(as_text=True)
        assert 'class="error"' in page  # the form says what is wrong
        assert not re.search(r'name="token"[^>]*value="[^"]', page)  # the token is never echoed back
        assert stored_canvas(user_id) == (None, None, None)

    check()


@pytest.mark.timeout(240)
def test_login_refuses_bad_credentials_and_logs_nobody_in(app):
    make_user("owner@example.edu")
    users_before = db.session.scalar(select(func.count()).select_from(User))

    @FUZZ
    @given(email=st.one_of(junk, st.emails().map(str), st.just("owner@example.edu"), st.just("OWNER@example.edu ")),
           password=st.one_of(junk, st.just(PASSWORD + " "), st.just(PASSWORD.upper())),
           remember=st.sampled_from(["", "y", "garbage"]))
    def check(email, password, remember):
        assume(password != PASSWORD)
        client = fresh(app)
        with app.app_context():
            response = client.post("/login", data={"email": email, "password": password, "remember": remember,
                                                   "csrf_token": csrf_token(client, "/login")})
        assert response.status_code in (400, 401, 429), (email, password, response.status_code)
        with app.app_context():
            assert client.get("/").status_code == 302  # still logged out: the planner sends to /login
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(User)) == users_before

    check()


@pytest.mark.timeout(240)
def test_sync_endpoints_refuse_bad_requests_and_start_nothing(app):
    make_user("nocanvas@example.edu")
    client = logged_in(app, "nocanvas@example.edu")
    anonymous = app.test_client()

    @FUZZ
    @given(path=st.sampled_from(["/sync/", "/sync/full"]),
           form=st.dictionaries(junk, junk, max_size=4),
           csrf=st.one_of(st.none(), junk, st.just("valid")),
           accept=st.sampled_from(["application/json", "text/html", "*/*", "garbage/\x7f"]),
           who=st.sampled_from(["user", "anonymous"]))
    def check(path, form, csrf, accept, who):
        c = client if who == "user" else anonymous
        data = dict(form)
        with app.app_context():
            if csrf == "valid" and who == "user":
                data["csrf_token"] = csrf_token(client, "/settings/")
            elif csrf is not None:
                data["csrf_token"] = csrf
            response = c.post(path, data=data, headers={"Accept": accept})
        if who == "anonymous":
            assert response.status_code in (302, 400, 401), response.status_code
        elif csrf == "valid":
            # no Canvas connection: refused in plain words (409 JSON, or back to settings)
            assert response.status_code in (302, 409), response.status_code
            if response.status_code == 302:
                assert "/settings" in response.headers["Location"]
        else:
            assert response.status_code == 400, response.status_code
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0

    check()

    @FUZZ
    @given(run_id=st.one_of(st.integers(min_value=-10**12, max_value=10**12).map(str), junk.map(
        lambda s: s.replace("/", "").replace("?", "").replace("#", "") or "x")))
    def runs(run_id):
        with app.app_context():
            response = client.get(f"/sync/runs/{run_id}.json")
        assert response.status_code == 404, (run_id, response.status_code)

    runs()
