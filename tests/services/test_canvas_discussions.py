"""CanvasDiscussions (the hub's Canvas client) against the sandbox Canvas over real HTTP."""
from __future__ import annotations

import pytest

from app.services.canvas_api_service import CanvasAPIService, NotFound
from app.services.canvas_discussions import CanvasDiscussions


@pytest.fixture
def discussions(canvas_sandbox):
    client = CanvasDiscussions(CanvasAPIService(canvas_sandbox.base_url, canvas_sandbox.token, timeout=5,
                                                backoff_factor=0.01))
    yield client
    client.close()


def _course(sb) -> int:
    return max(c for c in sb.data.enrolled if sb.data.enrollment_state(c) == "active")


def test_topic_and_entry_round_trip(canvas_sandbox, discussions):
    course = _course(canvas_sandbox)
    topic = discussions.create_topic(course, "Week 1", "<p>Hello</p>")
    discussions.update_topic(course, topic["id"], title="Week 1 (edited)")
    assert {t["id"]: t["title"] for t in discussions.topics(course)}[topic["id"]] == "Week 1 (edited)"
    assert discussions.topic(course, topic["id"])["message"] == "<p>Hello</p>"
    entry = discussions.create_entry(course, topic["id"], "<p>First!</p>")
    discussions.update_entry(course, topic["id"], entry["id"], "<p>First (edited)</p>")
    assert [e["message"] for e in discussions.entries(course, topic["id"])] == ["<p>First (edited)</p>"]
    assert discussions.entry(course, topic["id"], entry["id"])["message"] == "<p>First (edited)</p>"
    discussions.delete_entry(course, topic["id"], entry["id"])
    assert [e.get("deleted") for e in discussions.entries(course, topic["id"])] == [True]
    discussions.delete_topic(course, topic["id"])
    with pytest.raises(NotFound):
        discussions.topic(course, topic["id"])
