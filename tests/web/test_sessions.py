"""Sessions and login: ended sessions stay ended, next stays local, limits per account and address, resets."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email import policy as email_policy
from email.utils import parsedate_to_datetime

import pytest
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from app.extensions import db
from app.models import User
from app.web.auth import routes as auth_routes
from tests.web.conftest import PASSWORD, csrf_token, device, login, make_user


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def forged_session(app, data: dict) -> str:
    return SecureCookieSessionInterface().get_signing_serializer(app).dumps(data)


def test_a_cookie_copied_before_logout_is_refused_after_it(app):
    client = device(app)
    make_user("copy@example.edu")
    login(client, "copy@example.edu")
    copied = session_cookie(client)
    other_device = device(app)
    login(other_device, "copy@example.edu")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/")})

    replay = device(app)
    replay.set_cookie("session", copied)
    response = replay.get("/settings/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert other_device.get("/settings/").status_code == 302  # logout ends every session of the user


def test_a_forged_cookie_with_a_bare_user_id_opens_nothing(app, client):
    user = make_user("forged@example.edu")
    client.set_cookie("session", forged_session(app, {"_user_id": str(user.id), "_fresh": True}))
    assert client.get("/settings/").status_code == 302


def test_login_starts_a_new_session(app, client):
    make_user("fixate@example.edu")
    with client.session_transaction() as planted:
        planted["planted"] = "by someone else"
    csrf_before = csrf_token(client)
    login(client, "fixate@example.edu")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") and session["csrf_token"] != csrf_before
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 302


def test_remember_me_lasts_the_configured_days_and_ends_at_logout(app):
    client = device(app)
    make_user("remember@example.edu")
    response = client.post("/login", data={"email": "remember@example.edu", "password": PASSWORD, "remember": "y",
                                           "csrf_token": csrf_token(client)})
    cookie = next(c for c in response.headers.get_all("Set-Cookie") if c.startswith("remember_token="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert abs(expires - (datetime.now(timezone.utc) + timedelta(days=30))) < timedelta(hours=1)
    remembered = client.get_cookie("remember_token").value

    client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/")})
    revived = device(app)
    revived.set_cookie("remember_token", remembered)
    assert revived.get("/settings/").status_code == 302


def test_production_marks_the_remember_cookie_secure():
    from config import ProductionConfig

    assert ProductionConfig.REMEMBER_COOKIE_SECURE and ProductionConfig.REMEMBER_COOKIE_SAMESITE == "Lax"
    assert ProductionConfig.REMEMBER_COOKIE_HTTPONLY


@pytest.mark.parametrize("target", ["/\t/evil.example", "//evil.example/x", "https://evil.example/",
                                    "/\r\n/evil.example", "/\\evil.example", "\\\\evil.example",
                                    "/ok\nSet-Cookie: x=1", "javascript:alert(1)", "/\x00/evil.example"])
def test_next_to_another_host_lands_on_the_planner(app, client, target):
    make_user("next@example.edu")
    response = client.post("/login", query_string={"next": target},
                           data={"email": "next@example.edu", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_a_local_next_is_kept(app, client):
    make_user("local@example.edu")
    response = client.post("/login?next=/courses%3Fterm%3D1", data={
        "email": "local@example.edu", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/courses?term=1"


def failed_login(client, email: str, address: str, **headers):
    return client.post("/login", data={"email": email, "password": "a-wrong-guess", "csrf_token": csrf_token(client)},
                       environ_overrides={"REMOTE_ADDR": address}, headers=headers)


def test_failed_logins_from_fifty_addresses_against_one_account_are_limited(app, client):
    make_user("target@example.edu")
    limit = app.config["LOGIN_RATE_LIMIT"]
    statuses = [failed_login(client, "target@example.edu", f"198.51.100.{i}").status_code for i in range(50)]
    assert statuses == [401] * limit + [429] * (50 - limit)
    right = client.post("/login", data={"email": "target@example.edu", "password": PASSWORD,
                                        "csrf_token": csrf_token(client)}, environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert right.status_code == 429  # the account's window holds whatever the address


def test_one_address_spraying_accounts_is_limited_but_does_not_lock_out_others(app, client, monkeypatch):
    """Behind one trusted proxy each client has its own address (ProxyFix): the sprayer is stopped alone."""
    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1))
    make_user("real@example.edu")
    per_address = app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"]
    statuses = [failed_login(client, f"made-up-{i}@example.edu", "10.0.0.1",
                             **{"X-Forwarded-For": "192.0.2.66"}).status_code for i in range(per_address + 2)]
    assert statuses == [401] * per_address + [429] * 2
    response = client.post("/login", data={"email": "real@example.edu", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)},
                           environ_overrides={"REMOTE_ADDR": "10.0.0.1"}, headers={"X-Forwarded-For": "192.0.2.7"})
    assert response.status_code == 302


def test_an_unknown_account_costs_a_password_hash_like_a_known_one(app, client, monkeypatch):
    checked = []
    real_check = auth_routes.check_password_hash

    def counting(hash_, password):
        checked.append(hash_.split(":", 1)[0])
        return real_check(hash_, password)

    monkeypatch.setattr(auth_routes, "check_password_hash", counting)
    known = make_user("known@example.edu")
    assert failed_login(client, "nobody@example.edu", "192.0.2.1").status_code == 401
    assert checked == [known.password_hash.split(":", 1)[0]]  # the same method and cost as a real hash


def test_change_password_ends_other_sessions_and_keeps_this_one(app):
    client = device(app)
    make_user("change@example.edu")
    login(client, "change@example.edu")
    other = device(app)
    login(other, "change@example.edu")
    wrong = client.post("/account/password", data={"current": "not-it", "password": "a-new-password-1",
                                                   "confirm": "a-new-password-1",
                                                   "csrf_token": csrf_token(client, "/account/password")})
    assert wrong.status_code == 400 and b"not your current password" in wrong.data
    response = client.post("/account/password", data={"current": PASSWORD, "password": "a-new-password-1",
                                                      "confirm": "a-new-password-1",
                                                      "csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200
    assert other.get("/settings/").status_code == 302
    fresh = device(app)
    login(fresh, "change@example.edu", "a-new-password-1")


def reset_link(inbox, index: int = -1) -> str:
    deadline = time.monotonic() + 10
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    body = message_from_bytes(inbox.messages[index].content, policy=email_policy.default).get_content()
    return re.search(r"http://localhost(/reset/\S+)", body).group(1)


def test_reset_by_email_sets_a_new_password_once(app, smtp_server, monkeypatch):
    client = device(app)
    inbox, port = smtp_server
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    app.extensions.pop("reset_rate_limiter", None)
    user = make_user("forgot@example.edu")
    logged_in = device(app)
    login(logged_in, user.email)

    unknown = client.post("/reset", data={"email": "nobody@example.edu", "csrf_token": csrf_token(client, "/reset")})
    known = client.post("/reset", data={"email": "Forgot@example.edu", "csrf_token": csrf_token(client, "/reset")})
    assert unknown.status_code == known.status_code == 302
    link = reset_link(inbox)
    assert len(inbox.messages) == 1 and inbox.messages[0].rcpt_tos == ["forgot@example.edu"]

    assert client.get(link).status_code == 200
    done = client.post(link, data={"password": "brand-new-pass", "confirm": "brand-new-pass",
                                   "csrf_token": csrf_token(client, link)})
    assert done.status_code == 302 and done.headers["Location"].startswith("/login")
    login(client, user.email, "brand-new-pass")
    assert logged_in.get("/settings/").status_code == 302  # the reset ended the old sessions
    again = device(app).get(link)
    assert again.status_code == 302 and again.headers["Location"].startswith("/reset")  # used once
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("brand-new-pass")


def test_a_tampered_reset_link_is_refused(app, client):
    user = make_user("tamper@example.edu")
    token = auth_routes.reset_token(user)
    response = client.get(f"/reset/{token[:-2]}xx")
    assert response.status_code == 302 and response.headers["Location"].startswith("/reset")


def test_without_smtp_the_reset_page_says_so(app, client):
    assert not app.config.get("SMTP_HOST")
    response = client.get("/reset")
    assert response.status_code == 200 and b'id="reset-unavailable"' in response.data
