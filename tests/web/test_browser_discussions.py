"""The Discussions page and the conflict log in headless Chromium (Debian's package, via Playwright).

The app is served on 127.0.0.1 by werkzeug over each database backend (as the operations
dashboard's browser test does); Canvas and Discourse are the sandboxes. Screenshots land
in tests/artifacts/ (discussions-<backend>.png, conflict-log-<backend>.png).
"""
from __future__ import annotations

import pytest

from app.extensions import db
from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 (fixture)
from tests.helpers import serving
from tests.web.hub_env import PASSWORD, hub_env, synced_thread  # noqa: F401 (fixture)
from tests.web.test_browser import browser, shot  # noqa: F401 (fixture)
from tests.web.test_dashboard_conflicts import make_conflict
from tests.web.conftest import PASSWORD as ADMIN_PASSWORD, make_user


@pytest.fixture
def served(app):
    with serving(app, "discussions-browser-server") as base_url:
        yield base_url


def _page(browser, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(15_000)
    return context, page, errors


def _login(page, base, email, password):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/")


def test_discussions_page_in_chromium(browser, served, hub_env, app, monkeypatch, backend):
    env = hub_env
    topic = make_conflict(env, app, monkeypatch, "MergePreferCanvas")  # a synced thread, then a resolved edit
    db.session.commit()
    context, page, errors = _page(browser)
    try:
        _login(page, served, env.email, PASSWORD)
        page.goto(f"{served}/courses/{env.course_id}")
        page.click("#discussions-link")
        page.wait_for_url(f"{served}/courses/{env.course_id}/discussions")
        # A reply through the form, as a person would: it shows as Canvas Flow's, pending on both sides.
        reply_box = page.locator(f"#topic-{topic.id} form.reply textarea[name=body]")
        reply_box.fill("Goggles and gloves, please.\n\nSee you on Monday.")
        page.locator(f"#topic-{topic.id} form.reply button[type=submit]").click()
        page.wait_for_selector(".flash.success")
        last = page.locator(f"#topic-{topic.id} li.post").last
        assert last.locator(".badge.origin").inner_text() == "Canvas Flow"
        assert sorted(last.locator(".sync-state").all_inner_texts()) == ["Canvas: pending", "Discourse: pending"]
        assert page.locator(".badge.origin-discourse").count() >= 1 and page.locator(".badge.origin-canvas").count() >= 1
        assert page.locator(".sync-state.sync-synced").count() >= 1
        # The merged result of the conflict is in neither side yet: pending on both, Canvas (its origin) too.
        assert sorted(page.locator(f"#topic-{topic.id} > header .sync-state").all_inner_texts()) == [
            "Canvas: pending", "Discourse: pending"]
        # The edit form opens without any script (a <details>), and the body is rendered HTML.
        page.locator(f"#topic-{topic.id} details.edit summary").first.click()
        assert page.locator(f"#topic-{topic.id} details.edit input[name=title]").first.is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page scrolls sideways by {overflow}px"
        shot(page, f"discussions-{backend}")
    finally:
        context.close()
    assert errors == [], f"JavaScript errors or CSP violations: {errors}"

    context, page, errors = _page(browser, {"width": 375, "height": 740})
    try:  # a phone: nothing scrolls sideways
        _login(page, served, env.email, PASSWORD)
        page.goto(f"{served}/courses/{env.course_id}/discussions")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the Discussions page scrolls sideways at phone width ({width}px)"
        shot(page, f"discussions-phone-{backend}")
    finally:
        context.close()
    assert errors == [], errors


def test_conflict_log_in_chromium(browser, served, hub_env, app, monkeypatch, backend):
    topic = make_conflict(hub_env, app, monkeypatch, "MergePreferCanvas")
    admin = make_user("ops@example.edu", admin=True)
    context, page, errors = _page(browser)
    try:
        _login(page, served, admin.email, ADMIN_PASSWORD)
        page.goto(f"{served}/admin/sync#conflicts")
        row = page.locator("table.conflicts tr[data-conflict-id]").first
        assert "Merged, Canvas wins where both changed" in row.inner_text() and "merged" in row.inner_text()
        page.locator("#conflicts").scroll_into_view_if_needed()
        shot(page, f"conflict-log-{backend}")
        row.locator("a").first.click()
        page.wait_for_url(f"{served}/admin/sync/conflicts/discussion_topic/{topic.id}")
        assert page.locator("section.conflict").count() == 1
        assert page.locator("section.conflict b").first.inner_text() == "by Bob"  # rendered, sanitized
        shot(page, f"conflict-entity-{backend}")
    finally:
        context.close()
    assert errors == [], f"JavaScript errors or CSP violations: {errors}"
