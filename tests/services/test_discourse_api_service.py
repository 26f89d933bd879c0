"""DiscourseAPIService against the sandbox Discourse over real HTTP."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.services.discourse_api_service import (
    DiscourseUnavailable,
    EditConflict,
    InvalidApiKey,
    NotFound,
    Rejected,
    Throttled,
)
from tests.fixtures.discourse import (  # noqa: F401 - fixtures
    discourse_api,
    discourse_client,
    discourse_sandbox,
    make_discourse_sandbox,
)


def test_bad_key_is_permanent_in_plain_words_and_never_echoed(discourse_sandbox):
    key = "not-the-key-0123456789"
    with pytest.raises(InvalidApiKey) as caught:
        discourse_api(discourse_sandbox, key).categories()
    assert not caught.value.retriable
    assert caught.value.message == "Discourse rejected the API key or the API username; check both in the settings."
    assert key not in str(caught.value)
    with pytest.raises(InvalidApiKey):
        discourse_api(discourse_sandbox, "bad key with spaces\n").categories()  # never even sent


def test_categories_and_every_topic_of_a_category_across_pages(make_discourse_sandbox):
    sb = make_discourse_sandbox(categories=1, topics_per_category=5, replies_per_topic=0)
    client = discourse_api(sb)
    assert [c["slug"] for c in client.categories()] == ["uncategorized", "course-1"]
    sb.clear_log()
    topics = list(client.iter_category_topics(2, per_page=2))
    assert sorted(t["id"] for t in topics) == sorted(t.id for t in sb.forum.category_topics(2))
    assert len(sb.request_log) == 3  # 2 + 2 + 1: the short page ends it


def test_all_topic_posts_reads_past_the_first_chunk(make_discourse_sandbox):
    sb = make_discourse_sandbox(categories=1, topics_per_category=1, replies_per_topic=45)
    client = discourse_api(sb)
    topic_id = sb.forum.category_topics(2)[0].id
    topic, posts = client.all_topic_posts(topic_id, include_raw=True)
    assert [p["post_number"] for p in posts] == list(range(1, 47))
    assert all("raw" in p for p in posts)
    assert sum(1 for e in sb.request_log if e.path.endswith("/posts.json")) == 2  # 26 more ids in 20s


def test_create_find_by_external_id_edit_and_conflict(discourse_client, discourse_sandbox):
    client, sb = discourse_client, discourse_sandbox
    assert client.topic_by_external_id("cf-discussion_topic-1") is None
    post = client.create_topic(2, "Short", "tiny", external_id="cf-discussion_topic-1")  # staff skip validations
    found = client.topic_by_external_id("cf-discussion_topic-1")
    assert found["id"] == post["topic_id"] and found["external_id"] == "cf-discussion_topic-1"
    edited = client.update_post(post["id"], "A new body for the topic.", original_text="tiny", title="A longer title here")
    assert edited["raw"] == "A new body for the topic." and client.topic(post["topic_id"])["title"] == "A longer title here"
    sb.edit_post("alice", post["id"], "Alice rewrote it in Discourse meanwhile.")
    with pytest.raises(EditConflict) as caught:
        client.update_post(post["id"], "Our stale edit of the body.", original_text="A new body for the topic.")
    assert caught.value.current["raw"] == "Alice rewrote it in Discourse meanwhile."
    assert caught.value.current["cooked"] == "<p>Alice rewrote it in Discourse meanwhile.</p>"
    assert sb.forum.posts[post["id"]].raw == "Alice rewrote it in Discourse meanwhile."


def test_validation_and_missing_things_are_typed(discourse_client):
    with pytest.raises(Rejected) as caught:
        discourse_client.update_post(2, "too short")
    assert not caught.value.retriable and "Body is too short" in caught.value.message
    with pytest.raises(NotFound):
        discourse_client.post(99999)
    assert discourse_client.latest_revision(2) is None


def test_throttle_is_waited_out_and_nothing_is_lost(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle_limit=4, throttle_window_s=1)
    client = discourse_api(sb)
    started = time.monotonic()
    created = [client.create_post(1, f"Reply number {i} from the hub, long enough.") for i in range(6)]
    elapsed = time.monotonic() - started
    assert len({p["id"] for p in created}) == 6
    assert sum(1 for p in sb.forum.posts.values() if p.raw.startswith("Reply number")) == 6
    assert client.throttle_waits >= 1 and elapsed >= 0.9  # it waited the second Discourse asked for
    throttled = [e for e in sb.request_log if e.status == 429]
    assert throttled and all(e.method == "POST" for e in throttled)


def test_throttle_pause_is_shared_by_threads(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle_limit=5, throttle_window_s=1)
    client = discourse_api(sb)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.post(2)["id"], range(12)))
    assert results == [2] * 12
    assert client.throttle_waits >= 1  # the 429s reached us (urllib3 did not sleep them out)
    assert sum(1 for e in sb.request_log if e.status == 429) <= 8  # paused together, not hammering


def test_throttle_gives_up_after_the_limit_of_waits(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle_limit=1, throttle_window_s=30)
    client = discourse_api(sb, max_throttle_waits=2, max_wait_s=0.05)
    client.post(2)
    with pytest.raises(Throttled) as caught:
        client.post(2)
    assert caught.value.retriable


def test_server_errors_on_reads_are_retried_and_writes_are_not(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle=False)
    client = discourse_api(sb)
    sb.set_faults(0.5, seed=11, kinds=["503"], methods=["GET"])
    assert [client.post(2)["id"] for _ in range(5)] == [2] * 5
    assert any(e.status == 503 for e in sb.request_log)
    sb.set_faults(1.0, kinds=["500"], methods=["POST"])
    sb.clear_log()
    with pytest.raises(DiscourseUnavailable) as caught:
        client.create_post(1, "This write fails on the server side.")
    assert caught.value.retriable and len(sb.request_log) == 1


def test_unreachable_discourse_is_transient(discourse_sandbox):
    client = discourse_api(discourse_sandbox, max_retries=1)
    discourse_sandbox.stop()
    with pytest.raises(DiscourseUnavailable) as caught:
        client.categories()
    assert "Could not reach Discourse" in caught.value.message


def test_latest_topics_in_created_order(make_discourse_sandbox):
    sb = make_discourse_sandbox(categories=2, topics_per_category=3, replies_per_topic=0)
    client = discourse_api(sb)
    topics = list(client.iter_latest_topics(per_page=4, order="created", ascending=True))
    assert [t["id"] for t in topics] == sorted(t.id for t in sb.forum.category_topics(None))
