"""The conflict log on the operations dashboard (/admin/sync) and per entity: real concurrent edits, resolved.

A topic is edited in Canvas Flow and, before that reaches Discourse, in Discourse too; the
next pull finds the two versions concurrent and the configured rule decides.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DiscussionTopic
from app.sync.hub import Hub
from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 (fixture)
from tests.web.conftest import login, make_user
from tests.web.hub_env import hub_env, synced_thread  # noqa: F401 (fixture)


def make_conflict(env, app, monkeypatch, strategy: str = "PreferDiscourse") -> DiscussionTopic:
    """Concurrent edits of the Canvas topic: here (title and text) and in Discourse (text); returns the topic."""
    monkeypatch.setitem(app.config, "HUB_CONFLICT_STRATEGY", strategy)
    synced_thread(env)
    topic = db.session.scalar(select(DiscussionTopic).where(DiscussionTopic.title == "Osmosis lab questions"))
    hub = Hub.from_app(db.session)
    try:
        hub.edit_topic(topic.id, title="Osmosis lab (edited here)", body_html="<p>Edited in Canvas Flow.</p>")
        copy = next(t for t in env.discourse.forum.topics.values() if t.title == "Osmosis lab questions")
        first = env.discourse.forum.first_post(copy)
        env.discourse.edit_post("bob", first.id, "Edited in Discourse at the same time, <b>by Bob</b>.")
        hub.pull("discourse")
    finally:
        hub.close()
    db.session.expire_all()
    return topic


@pytest.fixture
def admin_client(client, hub_env):
    make_user("ops@example.edu", admin=True)
    login(client, "ops@example.edu")
    return client


def test_dashboard_lists_each_conflict_with_both_versions_rule_and_result(admin_client, hub_env, app, monkeypatch):
    topic = make_conflict(hub_env, app, monkeypatch, "PreferDiscourse")
    html = admin_client.get("/admin/sync").get_data(as_text=True)
    log = html[html.index('id="conflicts"'):html.index("<h2>History</h2>")]
    row = log[log.index("data-conflict-id="):]
    assert f"topic {topic.id}" in row and "The Discourse version wins" in row
    assert "Edited in Canvas Flow." in row and "Osmosis lab (edited here)" in row  # the version kept here
    assert "Edited in Discourse at the same time" in row  # the other side's
    assert "Discourse kept" in row  # the result
    assert f'href="/admin/sync/conflicts/discussion_topic/{topic.id}"' in row
    assert "<b>by Bob</b>" not in row  # excerpts are text only on the dashboard
    # The result is what the topic now holds.
    assert "Edited in Discourse at the same time" in topic.body_html


def test_merge_rule_says_where_each_field_came_from(admin_client, hub_env, app, monkeypatch):
    make_conflict(hub_env, app, monkeypatch, "MergePreferCanvas")
    html = admin_client.get("/admin/sync").get_data(as_text=True)
    log = html[html.index('id="conflicts"'):html.index("<h2>History</h2>")]
    assert "Merged, Canvas wins where both changed" in log and "<strong>merged</strong>" in log
    # Only Canvas Flow changed the title; both changed the text (no Canvas side to prefer here).
    assert "text from Discourse, title from Canvas Flow" in log


def test_per_entity_view_shows_full_versions_rendered(admin_client, hub_env, app, monkeypatch):
    topic = make_conflict(hub_env, app, monkeypatch)
    page = admin_client.get(f"/admin/sync/conflicts/discussion_topic/{topic.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<b>by Bob</b>" in html  # rendered (sanitized) in full
    assert "Last synced (base)" in html and "Ask about the lab here." in html
    none = admin_client.get(f"/admin/sync/conflicts/discussion_topic/{topic.id + 999}").get_data(as_text=True)
    assert 'id="no-conflicts"' in none and "data-conflict-id" not in none
    assert admin_client.get(f"/admin/sync/conflicts/user/{topic.id}").status_code == 404


def test_conflict_log_is_for_admins_only(client, hub_env, app, monkeypatch):
    topic = make_conflict(hub_env, app, monkeypatch)
    make_user("pupil@example.edu")
    login(client, "pupil@example.edu")
    assert client.get("/admin/sync").status_code == 403
    assert client.get(f"/admin/sync/conflicts/discussion_topic/{topic.id}").status_code == 403


def test_no_conflicts_says_so(admin_client):
    html = admin_client.get("/admin/sync").get_data(as_text=True)
    assert 'id="no-conflicts"' in html
