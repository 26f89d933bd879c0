"""The product through a real browser: headless Chromium (Debian's package) driven by Playwright.

register -> save a Canvas token -> Sync Canvas against the sandbox -> watch the progress bar
-> upcoming list and a course grade -> a wrong token shows the plain error and keeps the data.
Screenshots land in tests/artifacts/.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.browser import browser, page, shot  # noqa: F401 (fixtures)

COURSES = 10


@pytest.fixture
def live_server(tmp_path):
    """The app on a real threaded server over a SQLite file (migrated), like `make demo`."""
    from flask_migrate import upgrade

    from app.extensions import db
    from tests.conftest import make_test_app
    from tests.helpers import serving

    # Two courses at a time against a sandbox with latency: the sync takes long enough
    # (a second or two) for the 500 ms progress polling to show intermediate states.
    app = make_test_app(f"sqlite:///{tmp_path / 'browser.db'}", SYNC_COURSE_WORKERS=2)
    with app.app_context():
        upgrade()
    with serving(app, "browser-test-server") as base_url:
        yield app, base_url
    app.extensions["sync_executor"].shutdown(wait=True)
    with app.app_context():
        db.engine.dispose()


def register(page, base, email="student@example.edu", password="browser-pass-123"):
    page.goto(f"{base}/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.fill("input[name=confirm]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/settings/")


def save_canvas(page, base_url, token):
    page.fill("input[name=base_url]", base_url)
    page.fill("input[name=token]", token)
    page.click("#canvas-form input[type=submit]")
    page.wait_for_load_state()


def watch_sync(page) -> list[tuple[int, str]]:
    """Click Sync Canvas and sample the progress bar until the summary shows."""
    page.click("#sync-button")
    page.wait_for_selector("#sync-progress")
    seen: list[tuple[int, str]] = []
    shot_taken = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if page.locator("#sync-summary").count():
                break
            value = int(page.eval_on_selector("#sync-progress", "el => el.value"))
            step = page.inner_text("#sync-step")
        except Exception:  # the page reloads itself when the sync ends
            time.sleep(0.05)
            continue
        seen.append((value, step))
        if 0 < value < 100 and not shot_taken:
            shot(page, "sync-progress")
            shot_taken = True
        time.sleep(0.04)
    page.wait_for_selector("#sync-summary")
    return seen


def test_register_connect_sync_plan_and_survive_a_bad_token(page, live_server, make_canvas_sandbox):
    app, base = live_server
    sandbox = make_canvas_sandbox(courses=COURSES, assignments=8, students=6, latency_ms=100)
    course_id = sorted(sandbox.data.enrolled)[0]
    due = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    sandbox.add_assignment(course_id, name="Browser test essay", points_possible=20,
                           due_at=due.isoformat().replace("+00:00", "Z"))

    # Register, then connect Canvas: a wrong token is refused in plain words, the right one saved.
    register(page, base)
    save_canvas(page, sandbox.base_url, sandbox.expired_token)
    assert "Canvas rejected the access token" in page.inner_text("#canvas-form")
    assert "Nothing was saved" in page.inner_text("#canvas-form")
    assert "Not connected" in page.inner_text("#token-status")
    save_canvas(page, sandbox.base_url, sandbox.token)
    assert "Canvas connected" in page.inner_text("main")
    assert f"...{sandbox.token[-4:]}" in page.inner_text("#token-status")
    assert page.input_value("input[name=token]") == ""
    assert sandbox.token not in page.content()

    # Sync Canvas: the progress bar moves, then a summary.
    seen = watch_sync(page)
    values = [v for v, _ in seen]
    assert any(0 < v < 100 for v in values), f"no intermediate progress seen: {seen}"
    assert values == sorted(values), f"progress went backwards: {values}"
    assert any(re.fullmatch(rf"course \d+ of {COURSES}", step) for _, step in seen), seen
    assert "Canvas is synced" in page.inner_text("#sync-summary")
    assert int(page.eval_on_selector("#sync-progress", "el => el.value")) == 100

    # The planner: the upcoming list, a course grade.
    page.click("nav >> text=Upcoming")
    upcoming = page.inner_text("#upcoming")
    assert "Browser test essay" in upcoming and "20 pts" in upcoming
    assert page.locator("#upcoming li.item").count() >= 1
    shot(page, "planner-upcoming")
    page.click("nav >> text=Courses")
    grades = page.locator("td.grade").all_inner_texts()
    assert len(grades) == COURSES
    assert any(re.fullmatch(r"\d+\.\d%", g) for g in grades), grades
    shot(page, "planner-courses")
    page.click("table.courses a >> nth=0")
    assert re.fullmatch(r"\d+\.\d%", page.inner_text("#course-grade"))
    shot(page, "planner-course")

    # Canvas stops accepting the saved token: the sync fails in plain words, earlier data stays.
    sandbox.token = "rotated-token-the-user-does-not-have"
    seen = watch_sync(page)
    problem = page.inner_text("#sync-problem")
    assert "Canvas rejected the access token" in problem
    assert page.get_attribute("#sync-problem a", "href") == "/settings/"
    page.click("nav >> text=Upcoming")
    assert "Canvas rejected the access token" in page.inner_text("#sync-problem")
    assert "Browser test essay" in page.inner_text("#upcoming")
    shot(page, "planner-after-bad-token")
    page.click("nav >> text=Courses")
    assert page.locator("td.grade").count() == COURSES

    # The filled pages still fit a phone.
    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/", "/courses", "/sync/history", "/courses/1"):
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways at phone width ({width}px)"
    page.goto(base + "/")
    shot(page, "phone-upcoming")


def test_pages_fit_a_phone(browser, live_server):
    app, base = live_server
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        register(page, base, email="phone@example.edu")
        for path in ("/", "/courses", "/sync/history", "/settings/"):
            page.goto(base + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} scrolls sideways at phone width ({width}px)"
        shot(page, "phone-settings")
    finally:
        context.close()


def test_operations_dashboard_at_desktop_and_phone_width(browser, app, backend):
    """Seeded history on each backend, rendered by Chromium: two charts, failures in their colour, no sideways scroll."""
    from tests.helpers import serving
    from tests.web.conftest import PASSWORD, make_user
    from tests.web.test_dashboard import seed_history

    admin = make_user("ops@example.edu", admin=True)
    seed_history([make_user(f"pupil{i}@example.edu", canvas=True) for i in range(4)])
    with serving(app, "dashboard-test-server") as base:
        for name, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            errors = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{base}/login")
            page.fill("input[name=email]", admin.email)
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit]")
            page.goto(f"{base}/admin/sync")
            assert page.locator("svg.chart").count() == 2
            assert page.locator("svg.chart rect.bar-failed").count() > 0
            fill = page.eval_on_selector("svg.chart rect.bar-failed", "el => getComputedStyle(el).fill")
            assert fill == "rgb(197, 48, 48)"  # failures in their own colour
            width = page.eval_on_selector("svg.chart", "el => el.getBoundingClientRect().width")
            assert 0 < width <= viewport["width"]
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name}: the page scrolls sideways by {overflow}px"
            shot(page, f"ops-dashboard-{backend}-{name}")
            assert errors == [], errors
            context.close()


def test_calendar_feed_copy_button_copies_a_working_address(browser, live_server):
    import urllib.error
    import urllib.request

    app, base = live_server
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        register(page, base, email="calendar@example.edu")
        page.click("#calendar-copy")
        page.wait_for_function("document.getElementById('calendar-copy-status').textContent !== ''")
        assert page.inner_text("#calendar-copy-status") == "Copied."
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.input_value("#calendar-feed-url")
        assert copied.startswith(f"{base}/calendar/") and copied.endswith(".ics")
        with urllib.request.urlopen(copied, timeout=5) as response:  # no cookies: a calendar app
            assert response.headers["Content-Type"].startswith("text/calendar")
            assert response.read().startswith(b"BEGIN:VCALENDAR")
        shot(page, "settings-calendar-feed")

        page.click("#calendar-regenerate")
        page.wait_for_selector("#confirm-page")  # asked first: the old address would stop working
        assert "Make a new feed address?" in page.inner_text("#confirm-page")
        page.click("#confirm-yes")
        page.wait_for_selector("#calendar-feed-url")
        assert page.input_value("#calendar-feed-url") != copied
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(copied, timeout=5)
        assert refused.value.code == 404
    finally:
        context.close()
    assert errors == [], f"JavaScript errors or CSP violations: {errors}"
