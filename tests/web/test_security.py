"""Sessions, ownership, CSRF and the token's secrecy, across every route the app has."""
import re
from datetime import timedelta

import pytest

from app.extensions import db
from tests.web.conftest import (add_assignment, add_category, add_course, add_run, add_submission, csrf_token,
                                login, make_user, now)

# Password reset by e-mail: public by nature (tests/web/test_auth.py).
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.register", "auth.reset_request", "auth.reset_password"}
# For load balancers and Prometheus: no session, nothing private (checked below).
MACHINE_ENDPOINTS = {"ops.healthz", "ops.prometheus_metrics"}
# Signed pushes from Discourse and Canvas: no session, no CSRF, a bad signature is 401 (tests/web/test_webhooks.py).
MACHINE_ENDPOINTS |= {"webhooks.discourse", "webhooks.canvas"}
# The secret in the URL is the credential (calendar apps have no session): tests/web/test_calendar.py.
CAPABILITY_ENDPOINTS = {"calendar.feed"}
# OAuth redirects: Log in with Canvas is public by nature, Google's consent needs a session; both
# are 404 until configured and answer with a redirect to the provider (tests/web/test_canvas_oauth.py,
# tests/web/test_google_consent.py).
OAUTH_ENDPOINTS = {"auth.canvas_login", "auth.canvas_callback", "auth.google_login", "auth.google_callback"}
TOKEN = "7~TopSecretCanvasTokenValueQz9w"


def all_rules(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in
             PUBLIC_ENDPOINTS | MACHINE_ENDPOINTS | CAPABILITY_ENDPOINTS | OAUTH_ENDPOINTS]
    assert len(rules) >= 12, "expected the planner, settings, sync and admin routes"
    return rules


def build(rule, value=1):
    return rule.rule.replace("<int:", "<").replace("<course_id>", str(value)).replace(
        "<run_id>", str(value)).replace("<user_id>", str(value)).replace("<op_id>", str(value)).replace(
        "<action>", "retry" if "operations" in rule.rule else "pause").replace(
        "<topic_id>", str(value)).replace("<post_id>", str(value)).replace("<local_id>", str(value)).replace(
        "<entity_type>", "discussion_topic").replace("<assignment_id>", str(value))


def test_every_page_but_login_and_register_needs_a_session(app, client):
    token = csrf_token(client, "/login")  # a valid token, so CSRF is not what stops the POSTs
    for rule in all_rules(app):
        url = build(rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 302, f"{method} {url} -> {response.status_code}"
            assert response.headers["Location"].startswith("/login"), f"{method} {url}"


@pytest.fixture
def two_users(app, client):
    alice = make_user("alice@example.edu", canvas=True, token=TOKEN)
    bob = make_user("bob@example.edu", canvas=True, token="bob-token-0000")
    bob_course = add_course(bob, "Bob's course")
    bob_run = add_run(bob, status="succeeded", finished_at=now())
    db.session.commit()
    login(client, alice.email)
    return alice, bob, bob_course, bob_run


def test_user_a_gets_404_on_user_b_course_and_sync_ids(client, two_users):
    alice, bob, bob_course, bob_run = two_users
    assert client.get(f"/courses/{bob_course.id}").status_code == 404
    assert client.get(f"/sync/runs/{bob_run.id}").status_code == 404
    assert client.get(f"/sync/runs/{bob_run.id}.json").status_code == 404
    assert "Bob" not in client.get("/sync/history").get_data(as_text=True)
    # and the admin pages are closed to her
    assert client.get("/admin/").status_code == 403
    assert client.post(f"/admin/users/{bob.id}/sync", data={"csrf_token": csrf_token(client, "/")}).status_code == 403


def test_post_without_csrf_token_is_refused(app, client, two_users, monkeypatch):
    from app.web.sync import routes as sync_routes

    started = []
    monkeypatch.setattr(sync_routes, "start_sync", lambda *a, **k: started.append(a))
    alice = two_users[0]
    posts = [r for r in all_rules(app) if "POST" in r.methods]
    assert {r.endpoint for r in posts} >= {"sync.start", "sync.start_full", "settings.canvas",
                                           "settings.disconnect", "auth.logout", "admin.sync_user"}
    for rule in posts:
        url = build(rule, alice.id)
        for data in ({}, {"csrf_token": "forged-token"}):
            response = client.post(url, data={**data, "base_url": "https://x.example", "token": "t"})
            assert response.status_code == 400, f"POST {url} without a valid CSRF token -> {response.status_code}"
            assert b"This form expired" in response.data  # the CSRF refusal, in plain words
    # login and register forms are protected too
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.post("/login", data={"email": alice.email, "password": "x"}).status_code == 400
    assert client.post("/register", data={"email": "n@e.edu", "password": "p" * 10, "confirm": "p" * 10}).status_code == 400
    assert started == []
    db.session.refresh(alice)
    assert alice.canvas_token == TOKEN  # nothing changed


def test_the_token_never_appears_in_any_page(app, client, two_users):
    alice = two_users[0]
    alice.is_admin = True
    course = add_course(alice, "Alice's course", weighted=True)
    cat = add_category(course, "Homework", 100)
    a = add_assignment(course, "HW", category=cat, due_in=timedelta(days=1))
    add_submission(a, 77, score=5)
    run = add_run(alice, status="failed", finished_at=now(),
                  error="Canvas rejected the access token (expired). Update it in Settings.",
                  counts_json='{"error_kind": "invalid_token"}')
    db.session.commit()
    secrets = [TOKEN, TOKEN[:-4], alice.canvas_token_encrypted]
    ids = {"course_id": course.id, "run_id": run.id, "user_id": alice.id, "local_id": 1}
    checked = 0
    for rule in all_rules(app):
        if "GET" not in rule.methods:
            continue
        url = rule.rule
        for name, value in ids.items():
            url = url.replace(f"<int:{name}>", str(value))
        url = url.replace("<entity_type>", "discussion_topic")
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        for secret in secrets:
            assert secret not in body, f"token material on {url}"
        checked += 1
    assert checked >= 8
    assert "...Qz9w" in client.get("/settings/").get_data(as_text=True)  # only the hint


def test_pages_carry_security_headers_and_no_external_assets(client, two_users):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', body), "no CDN or external assets"
    assert "<script>" not in body  # no inline script (the CSP would block it anyway)


def test_production_cookies_are_secure():
    from config import ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE and ProductionConfig.REMEMBER_COOKIE_SECURE
    assert ProductionConfig.SESSION_COOKIE_HTTPONLY and ProductionConfig.SESSION_COOKIE_SAMESITE == "Lax"
    assert ProductionConfig.ALLOW_PRIVATE_CANVAS_URLS is False


def test_machine_endpoints_answer_without_a_session_and_reveal_no_secret(app, client, two_users):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    for url in ("/healthz", "/metrics"):
        response = client.get(url)
        assert response.status_code in (200, 503), url
        body = response.get_data(as_text=True)
        assert TOKEN not in body and "alice@" not in body and "bob@" not in body, url


def test_capability_urls_answer_404_without_their_secret(app, client, two_users):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    rules = [r for r in app.url_map.iter_rules() if r.endpoint in CAPABILITY_ENDPOINTS]
    assert rules
    for rule in rules:
        response = client.get(rule.rule.replace("<secret>", "guessed-secret"))
        assert response.status_code == 404, rule.rule
        assert TOKEN not in response.get_data(as_text=True)
