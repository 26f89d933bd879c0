"""Log in with Canvas through the app's routes, against the sandbox Canvas over real HTTP."""
from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import OAuthIdentity, SyncRun, User
from app.sync.executors import get_executor
from sandbox.canvas.oauth import DeveloperKey
from tests.fixtures.canvas_oauth import authorize_in_sandbox, configure_canvas_oauth
from tests.web.conftest import csrf_token, login, make_user, post


@pytest.fixture
def canvas(app, make_canvas_sandbox, monkeypatch):
    # The test client's host is "localhost": the developer key's redirect host.
    sandbox = make_canvas_sandbox(oauth_key=DeveloperKey(redirect_host="localhost"))
    configure_canvas_oauth(monkeypatch, app, sandbox)
    yield sandbox
    # A sign-in starts the first sync in the app's thread pool: let it end before the tables are emptied.
    get_executor(app).wait_idle()


def start(client) -> str:
    """Log in with Canvas: the app's redirect to Canvas, then Canvas's redirect back (a path)."""
    response = client.get("/auth/canvas/login")
    assert response.status_code == 302
    callback = authorize_in_sandbox(response.headers["Location"])
    parts = urlsplit(callback)
    assert parts.path == "/auth/canvas/callback"
    return f"{parts.path}?{parts.query}"


def signed_in(client) -> bool:
    return client.get("/settings/").status_code == 200


def test_login_page_offers_canvas_only_when_configured(app, client, canvas, monkeypatch):
    assert 'id="canvas-login"' in client.get("/login").get_data(as_text=True)
    monkeypatch.setitem(app.config, "CANVAS_OAUTH_CLIENT_ID", "")
    assert 'id="canvas-login"' not in client.get("/login").get_data(as_text=True)
    assert client.get("/auth/canvas/login").status_code == 404


def test_new_user_signs_in_and_first_sync_is_queued(app, client, canvas):
    callback = start(client)
    response = client.get(callback)
    assert response.status_code == 302 and "/sync/runs/" in response.headers["Location"]
    assert signed_in(client)
    identity = db.session.scalar(select(OAuthIdentity))
    assert (identity.issuer, identity.subject) == (canvas.base_url, str(canvas.data.self_user["id"]))
    user = db.session.get(User, identity.user_id)
    assert user.canvas_base_url == canvas.base_url and user.canvas_user_id == canvas.data.self_user["id"]
    assert canvas.oauth.lookup(user.canvas_token)[0] is not None
    assert identity.refresh_token and identity.refresh_token not in identity.refresh_token_encrypted
    run = db.session.scalar(select(SyncRun).where(SyncRun.user_id == user.id))
    assert run is not None and run.kind == "full"

    # Signing in again finds the same account.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/")})
    assert client.get(start(client)).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize("state", [None, "", "forged-state"])
def test_wrong_or_missing_state_signs_nobody_in(app, client, canvas, state):
    callback = start(client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if state is None:
        query.pop("state")
    else:
        query["state"] = state
    response = client.get("/auth/canvas/callback", query_string=query)
    assert response.status_code == 400
    assert "That sign-in did not start here" in response.get_data(as_text=True)
    assert not signed_in(client)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert canvas.oauth.code_exchanges == 0  # the code was never even exchanged


def test_a_callback_from_another_browser_signs_nobody_in(app, client, canvas):
    callback = start(client)
    other = app.test_client()
    other.get("/auth/canvas/login")  # a state of its own, not the one in the callback
    assert other.get(callback).status_code == 400
    assert not signed_in(other)


def test_reused_code_gives_a_plain_page(app, client, canvas):
    callback = start(client)
    assert client.get(callback).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/")})
    fresh = parse_qs(urlsplit(start(client)).query)
    old = parse_qs(urlsplit(callback).query)
    response = client.get("/auth/canvas/callback", query_string={"code": old["code"][0], "state": fresh["state"][0]})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "That sign-in link was already used or has expired" in body
    assert "Traceback" not in body and "invalid_grant" not in body
    assert not signed_in(client)


def test_cancel_on_canvas_signs_nobody_in(app, client, canvas):
    import requests

    response = client.get("/auth/canvas/login")
    page = requests.get(response.headers["Location"], timeout=10).text
    import re

    deny = page.split("</form>")[1]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', deny))
    back = requests.post(canvas.base_url + "/login/oauth2/deny", data=fields, allow_redirects=False, timeout=10)
    parts = urlsplit(back.headers["Location"])
    answer = client.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 403 and not signed_in(client)


def test_tokens_never_reach_logs_or_pages(app, client, canvas, caplog):
    caplog.set_level(logging.DEBUG)
    callback = start(client)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    pages = [client.get(callback, follow_redirects=True).get_data(as_text=True)]
    for url in ("/settings/", "/", "/sync/history"):
        pages.append(client.get(url).get_data(as_text=True))
    identity = db.session.scalar(select(OAuthIdentity))
    secrets = [identity.access_token, identity.refresh_token, code, canvas.oauth.key.client_secret]
    for secret in secrets:
        assert secret not in caplog.text
        for page in pages:
            assert secret not in page
    # The sandbox's own log of the token requests holds no token either.
    assert all(secret not in str(entry) for entry in canvas.request_log for secret in secrets)


def test_existing_account_links_once_while_signed_in(app, client, canvas):
    user = make_user("pasted@example.edu")
    user.canvas_base_url, user.canvas_token = canvas.base_url, canvas.token
    user.canvas_user_id = canvas.data.self_user["id"]
    db.session.commit()
    login(client, user.email)
    response = client.get(start(client))
    assert response.status_code == 302
    identity = db.session.scalar(select(OAuthIdentity))
    assert identity.user_id == user.id
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    # A second link attempt: already linked to this Canvas user, the same account (no new one).
    assert client.get(start(client)).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(OAuthIdentity)) == 1


def test_linking_refuses_an_account_of_another_canvas_user(app, client, canvas):
    user = make_user("teacher-token@example.edu")
    user.canvas_base_url, user.canvas_token = canvas.base_url, canvas.token
    user.canvas_user_id = 99999  # the pasted token belonged to someone else
    db.session.commit()
    login(client, user.email)
    response = client.get(start(client))
    assert response.status_code == 409
    assert "belongs to another Canvas user" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OAuthIdentity)) == 0


def test_personal_tokens_can_be_switched_off(app, client, canvas, monkeypatch):
    user = make_user("paste@example.edu")
    login(client, user.email)
    monkeypatch.setitem(app.config, "CANVAS_ALLOW_PERSONAL_TOKENS", False)
    page = client.get("/settings/").get_data(as_text=True)
    assert 'id="personal-tokens-off"' in page and 'id="canvas-form"' not in page
    response = post(client, "/settings/", {"base_url": canvas.base_url, "token": canvas.token})
    assert response.status_code == 403
    assert db.session.get(User, user.id).canvas_token_encrypted is None


def test_logout_can_revoke_the_canvas_token(app, client, canvas):
    client.get(start(client))
    identity = db.session.scalar(select(OAuthIdentity))
    access = identity.access_token
    assert canvas.oauth.lookup(access)[0] is not None
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/"), "revoke_canvas": "1"})
    assert response.status_code == 302
    assert canvas.oauth.lookup(access)[0] is None  # Canvas deleted it
    db.session.expire_all()
    identity = db.session.scalar(select(OAuthIdentity))
    assert identity.access_token is None and identity.refresh_token is None
    assert any(e.method == "DELETE" and e.path == "/login/oauth2/token" for e in canvas.request_log)
