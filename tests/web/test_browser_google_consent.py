"""Connect Google Classroom through Google's consent in headless Chromium (the sandbox serves
Google's OAuth endpoints): the first pull stores the classes; a revoked grant then gives the
plain "connect again" status and keeps them."""
from __future__ import annotations

import time

import pytest

from sandbox.classroom import ClassroomSandbox
from tests.fixtures.browser import browser, page, shot  # noqa: F401 (fixtures)


@pytest.fixture
def google():
    with ClassroomSandbox(courses=2, course_work=4, students=3, seed=5, oauth_token_lifetime_s=2) as sandbox:
        yield sandbox


@pytest.fixture
def live_app(tmp_path, google):
    from flask_migrate import upgrade

    from app.extensions import db
    from tests.conftest import make_test_app
    from tests.helpers import serving

    app = make_test_app(f"sqlite:///{tmp_path / 'google.db'}", GOOGLE_OAUTH_CLIENT_ID=google.oauth.client_id,
                        GOOGLE_OAUTH_CLIENT_SECRET=google.oauth.client_secret,
                        GOOGLE_OAUTH_AUTH_BASE=google.base_url, GOOGLE_OAUTH_TOKEN_BASE=google.base_url,
                        CLASSROOM_API_URL=google.base_url)
    with app.app_context():
        upgrade()
    with serving(app, "google-browser-server") as base_url:
        yield app, base_url
    app.extensions["sync_executor"].shutdown(wait=True)
    with app.app_context():
        db.engine.dispose()


def wait_for_status(page, url: str, text: str) -> str:
    """Reload Settings until the Classroom status line says `text` (bounded)."""
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        page.goto(url)
        status = page.inner_text("#classroom-status")
        if text in status:
            return status
        time.sleep(0.2)
    raise AssertionError(f"Classroom status never said {text!r}: {status!r}")


def test_google_consent_first_pull_then_connect_again(page, live_app, google):
    app, base = live_app
    page.goto(f"{base}/register")
    page.fill("input[name=email]", "classroom@example.edu")
    page.fill("input[name=password]", "browser-pass-123")
    page.fill("input[name=confirm]", "browser-pass-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/settings/")
    page.click("#google-connect")
    page.wait_for_url(f"{google.base_url}/o/oauth2/v2/auth*")
    shot(page, "google-consent")
    page.click("#google-allow")
    page.wait_for_url(f"{base}/settings/*")
    wait_for_status(page, f"{base}/settings/", "Last pulled")
    page.goto(f"{base}/courses")
    for course in google.data.courses.values():
        assert course["name"] in page.inner_text("main")

    google.oauth.revoke_all()  # removed at myaccount.google.com
    page.goto(f"{base}/settings/")
    page.click("#classroom-pull")
    status = wait_for_status(page, f"{base}/settings/", "Connect Google Classroom again")
    assert "your synced data is kept" in status
    shot(page, "google-reconnect")
    page.goto(f"{base}/courses")
    for course in google.data.courses.values():
        assert course["name"] in page.inner_text("main")
