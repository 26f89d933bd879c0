"""Log in with Canvas in headless Chromium: a new user signs in at the sandbox Canvas, their first
sync runs; later Canvas refuses the refresh token and the page says, plainly, to connect again."""
from __future__ import annotations

import pytest

from sandbox.canvas import CanvasSandbox
from tests.fixtures.browser import browser, page, shot  # noqa: F401 (fixtures)


@pytest.fixture
def canvas():
    with CanvasSandbox(courses=3, assignments=6, students=5, seed=3, latency_ms=0) as sandbox:
        yield sandbox


@pytest.fixture
def live_app(tmp_path, canvas):
    from flask_migrate import upgrade

    from app.extensions import db
    from tests.conftest import make_test_app
    from tests.helpers import serving

    app = make_test_app(f"sqlite:///{tmp_path / 'oauth.db'}", CANVAS_BASE_URL=canvas.base_url,
                        CANVAS_OAUTH_CLIENT_ID=canvas.oauth.key.client_id,
                        CANVAS_OAUTH_CLIENT_SECRET=canvas.oauth.key.client_secret, SYNC_COURSE_WORKERS=2)
    with app.app_context():
        upgrade()
    with serving(app, "oauth-browser-server") as base_url:
        yield app, base_url
    app.extensions["sync_executor"].shutdown(wait=True)
    with app.app_context():
        db.engine.dispose()


def test_log_in_with_canvas_runs_the_first_sync_then_asks_to_reconnect(page, live_app, canvas):
    app, base = live_app
    page.goto(f"{base}/login")
    page.click("#canvas-login")
    page.wait_for_url(f"{canvas.base_url}/login/oauth2/auth*")
    shot(page, "canvas-authorize")
    page.click("#oauth-accept")
    page.wait_for_url(f"{base}/sync/runs/*")
    page.wait_for_selector("#sync-summary", timeout=60_000)
    assert "Canvas is synced" in page.inner_text("#sync-summary")
    shot(page, "canvas-first-sync")
    page.goto(f"{base}/courses")
    courses = page.inner_text("main")
    for course_id in sorted(canvas.data.enrolled):
        assert canvas.data.courses[course_id]["name"] in courses

    # Canvas's user removes the app: the refresh token is refused on the next run.
    canvas.oauth.revoke_refresh_token()
    page.goto(f"{base}/")
    page.click("#sync-button")
    page.wait_for_selector("#sync-summary", timeout=60_000)
    summary = page.inner_text("main")
    assert "Connect Canvas again" in summary and "your synced data is kept" in summary
    page.goto(f"{base}/courses")
    for course_id in sorted(canvas.data.enrolled):  # nothing was lost
        assert canvas.data.courses[course_id]["name"] in page.inner_text("main")
    page.goto(f"{base}/settings/")
    assert page.locator("#canvas-reconnect").count() == 1
    shot(page, "canvas-reconnect")
    content = page.content()
    assert "refresh_token" not in content
