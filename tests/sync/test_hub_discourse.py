"""The hub between sandbox Canvas and sandbox Discourse over real HTTP, on every database backend.

The connectors are the real ones, built through the app's registry (CanvasConnector as the
course owner, DiscourseConnector from the DISCOURSE_* settings with the linked category).
"No echo" is checked in each sandbox's request log: nothing the hub learnt from a side is
ever written back to it. Shared environment and test bodies: tests/sync/hub_env.py.
"""
from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DiscussionPost, DiscussionTopic, HubConflict, SyncOperation
from app.models.types import utcnow
from app.sync import queue
from app.sync.connectors.base import WebhookRejected
from app.sync.connectors.base import registry as app_registry
from app.sync.connectors.discourse import DiscourseConnector, hub_ref_in
from app.sync.hub import HUB_DELIVERY
from tests.sync.hub_env import (SIDE, STRATEGY_CASES, DiscourseSide, check_strategy, count, current_topic,
                                make_env, mapped, run_chaos)
from tests.fixtures.executors import RecordingExecutor

SECRET = "hub-test-webhook-secret"
COURSE_CATEGORY = 2  # category 1 is "Uncategorized"
FORUM = {"categories": 1, "topics_per_category": 0, "replies_per_topic": 0, "throttle": False}


@pytest.fixture
def env(app, make_canvas_sandbox, make_discourse_sandbox, monkeypatch):
    canvas = make_canvas_sandbox(**SIDE)
    forum = make_discourse_sandbox(**FORUM)
    # The app's own registry: "discourse" is registered by importing the hub, as at app start.
    monkeypatch.setitem(app.extensions, "hub_registry", app_registry)
    monkeypatch.setitem(app.extensions, "sync_executor", RecordingExecutor())  # the test drains the queue itself
    for key, value in {"HUB_SYSTEMS": "canvas,discourse", "CANVAS_BACKOFF_FACTOR": 0.01,
                       "DISCOURSE_URL": forum.base_url, "DISCOURSE_API_KEY": forum.api_key,
                       "DISCOURSE_API_USERNAME": forum.api_username, "DISCOURSE_WEBHOOK_SECRET": SECRET,
                       "DISCOURSE_BACKOFF_FACTOR": 0.01, "DISCOURSE_TIMEOUT_S": 3.0}.items():
        monkeypatch.setitem(app.config, key, value)
    return make_env(canvas, DiscourseSide(forum, COURSE_CATEGORY))


def listen(forum) -> dict:
    """A webhook to a receiver that is not there: Discourse records each attempt (headers, signed body)
    and does not retry it, so the test hands the pushes to the hub itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = forum.add_webhook(f"http://127.0.0.1:{port}/webhooks/discourse", SECRET)
    return {"hook": hook, "seen": len(forum.deliveries)}


def pushes(forum, listening: dict) -> list:
    """The pushes sent since the last look (each with its headers and raw body)."""
    assert forum.wait_webhooks()
    new = [d for d in forum.deliveries[listening["seen"]:] if d.web_hook_id == listening["hook"].id]
    listening["seen"] = len(forum.deliveries)
    return new


def _topic_ref(local_id: int) -> str:
    return f"cf-discussion_topic-{local_id}"


def test_the_app_registry_builds_the_discourse_connector_for_the_linked_category(env):
    hub = env.hub()
    try:
        assert hub.systems == ["canvas", "discourse"]
        connector = hub.connectors.get("discourse")
        assert isinstance(connector, DiscourseConnector) and connector.category_ids == [COURSE_CATEGORY]
    finally:
        hub.close()


def test_topic_from_canvas_reaches_discourse_once_and_never_echoes(env):
    env.a.create_topic("Cell walls and plants", "<p>What holds a plant up?</p>")
    assert env.pull("canvas") == {"created": 1}
    assert env.drain() == 1
    [copy] = env.b.topics()
    topic = current_topic()
    assert (copy["title"], copy["body"], copy["ref"]) == ("Cell walls and plants", "<p>What holds a plant up?</p>",
                                                          _topic_ref(topic.id))
    assert env.other.forum.topics[copy["id"]].external_id == _topic_ref(topic.id)  # a retry finds it by external_id
    assert env.b.writes() == [("POST", "/posts.json")]
    # Discourse reports it back (cooked HTML): recognised as the hub's own write, nothing queued or written.
    assert env.pull("discourse") == {"unchanged": 1}
    env.sync()
    env.sync()
    assert env.a.writes() == [] and env.b.writes() == [("POST", "/posts.json")]
    assert count(DiscussionTopic) == 1
    [thread] = env.hub().course_thread(env.course_id)
    assert (thread.origin_system, thread.reached) == ("canvas", {"canvas": "synced", "discourse": "synced"})


def test_topic_and_replies_from_discourse_reach_canvas_and_edits_follow_both_ways(env):
    topic_id = env.b.create_topic("Osmosis in two lines", "Explain **osmosis** in two lines, please.")
    reply_id = env.b.reply(topic_id, "Water moves towards the saltier side.")
    assert env.pull("discourse") == {"created": 2}
    env.drain()
    [copy] = env.a.topics()
    assert (copy["title"], copy["body"]) == ("Osmosis in two lines",
                                             "<p>Explain <strong>osmosis</strong> in two lines, please.</p>")
    [entry] = env.a.posts(copy["id"])
    assert entry["body"] == "<p>Water moves towards the saltier side.</p>"
    # A reply in Canvas reaches Discourse, carrying the hub's hidden reference in its raw.
    canvas_reply = env.a.reply(copy["id"], "<p>And the water stops when both sides are equal.</p>")
    env.sync()
    posts = env.b.posts(topic_id)
    assert [p["body"] for p in posts] == ["<p>Water moves towards the saltier side.</p>",
                                          "<p>And the water stops when both sides are equal.</p>"]
    reply_ref = posts[1]["ref"]
    assert reply_ref and reply_ref.startswith("cf-discussion_post-")
    assert hub_ref_in(env.other.forum.posts[posts[1]["id"]].raw) == reply_ref and "canvas-flow" not in posts[1]["body"]
    # Edits: the topic and the Discourse reply in Discourse, the Canvas reply in Canvas.
    env.b.edit_topic(topic_id, title="Osmosis in two short lines", body="<p>Explain osmosis briefly.</p>")
    env.b.edit_post(reply_id, "<p>Water moves towards more salt.</p>")
    env.a.edit_post(canvas_reply, "<p>It stops at equal concentration.</p>")
    env.sync()
    env.sync()
    assert env.a.topic(copy["id"]) == ("Osmosis in two short lines", "<p>Explain osmosis briefly.</p>")
    assert sorted(p["body"] for p in env.a.posts(copy["id"])) == [
        "<p>It stops at equal concentration.</p>", "<p>Water moves towards more salt.</p>"]
    assert sorted(p["body"] for p in env.b.posts(topic_id)) == [
        "<p>It stops at equal concentration.</p>", "<p>Water moves towards more salt.</p>"]
    # Nothing echoed: Discourse got the Canvas reply and its edit; Canvas got the topic, the reply and their edits.
    assert env.b.writes() == [("POST", "/posts.json"), ("PUT", f"/posts/{posts[1]['id']}.json")]
    topics = f"/api/v1/courses/{env.canvas_course}/discussion_topics"
    assert sorted(env.a.writes()) == sorted([("POST", topics), ("POST", f"{topics}/{copy['id']}/entries"),
                                             ("PUT", f"{topics}/{copy['id']}"),
                                             ("PUT", f"{topics}/{copy['id']}/entries/{entry['id']}")])
    local_posts = db.session.scalars(select(DiscussionPost).order_by(DiscussionPost.id)).all()
    assert [(p.origin_system, p.body_html) for p in local_posts] == [
        ("discourse", "<p>Water moves towards more salt.</p>"), ("canvas", "<p>It stops at equal concentration.</p>")]


def test_a_local_reply_reaches_both_sides(env):
    env.a.create_topic("Enzymes and catalysts", "<p>Name one enzyme.</p>")
    env.sync()
    post = env.hub().post_reply(current_topic().id, "<p>Amylase breaks down starch.</p>", author_name="Ms. Frizzle")
    env.drain()
    [canvas_topic], [forum_topic] = env.a.topics(), env.b.topics()
    assert [p["body"] for p in env.a.posts(canvas_topic["id"])] == ["<p>Amylase breaks down starch.</p>"]
    [forum_post] = env.b.posts(forum_topic["id"])
    assert (forum_post["body"], forum_post["ref"]) == ("<p>Amylase breaks down starch.</p>",
                                                       f"cf-discussion_post-{post.id}")
    before = (len(env.a.writes()), len(env.b.writes()))
    env.sync()
    assert (len(env.a.writes()), len(env.b.writes())) == before


def test_a_topic_edited_push_brings_title_and_body_and_our_own_echo_is_ignored(env):
    """Discourse sends topic_edited (no body) when the first post's edit also changed the title."""
    env.a.create_topic("Mitosis and its phases", "<p>Name the phases.</p>")
    env.sync()
    [copy] = env.b.topics()
    hook = listen(env.other)
    env.b.edit_topic(copy["id"], title="Mitosis: the four phases", body="<p>Name the four phases.</p>")
    [push] = pushes(env.other, hook)
    assert push.headers["X-Discourse-Event"] == "topic_edited" and b"cooked" not in push.body
    hub = env.hub()
    assert hub.receive_webhook("discourse", push.headers, push.body) == {"updated": 1}
    assert hub.receive_webhook("discourse", push.headers, push.body) == {"replayed": 1}
    hub.close()
    topic = current_topic()
    db.session.refresh(topic)
    assert (topic.title, topic.body_html) == ("Mitosis: the four phases", "<p>Name the four phases.</p>")
    env.drain()
    [canvas_topic] = env.a.topics()
    assert env.a.topic(canvas_topic["id"]) == ("Mitosis: the four phases", "<p>Name the four phases.</p>")
    # A Canvas edit reaches Discourse; Discourse's push about that write (our own) changes nothing.
    env.a.edit_topic(canvas_topic["id"], body="<p>Name the four phases, in order.</p>")
    env.sync()
    writes = len(env.b.writes())
    [own] = pushes(env.other, hook)
    hub = env.hub()
    assert hub.receive_webhook("discourse", own.headers, own.body) == {"unchanged": 1}
    hub.close()
    env.sync()
    assert len(env.b.writes()) == writes
    assert env.a.writes() == [("PUT", f"/api/v1/courses/{env.canvas_course}/discussion_topics/{canvas_topic['id']}")]


def test_replies_deleted_on_either_side_are_deleted_on_the_other(env):
    topic_id = env.a.create_topic("Viruses and living things", "<p>Are viruses alive?</p>")
    canvas_entry = env.a.reply(topic_id, "<p>No, they need a host cell.</p>")
    env.sync()
    [copy] = env.b.topics()
    forum_reply = env.b.reply(copy["id"], "Yes, in a way: they evolve.")
    env.sync()
    assert len(env.a.posts(topic_id)) == 2 and len(env.b.posts(copy["id"])) == 2
    # Canvas: a deleted entry shows in the next pull; Discourse: a deletion only comes as a push.
    env.canvas.delete_entry(canvas_entry)
    hook = listen(env.other)
    env.other.delete_post("alice", forum_reply)
    [push] = pushes(env.other, hook)
    hub = env.hub()
    assert hub.receive_webhook("discourse", push.headers, push.body) == {"updated": 1}
    hub.close()
    env.sync()
    assert env.a.posts(topic_id) == [] and env.b.posts(copy["id"]) == []
    assert [p.deleted_at is not None for p in db.session.scalars(select(DiscussionPost))] == [True, True]
    assert [m for m, _ in env.b.writes()][-1] == "DELETE"
    assert env.a.writes()[-1][0] == "DELETE"
    before = (len(env.a.writes()), len(env.b.writes()))
    env.sync()
    assert (len(env.a.writes()), len(env.b.writes())) == before


def test_a_push_while_discourse_is_not_set_up_is_refused_and_changes_nothing(env, app, monkeypatch):
    monkeypatch.setitem(app.config, "DISCOURSE_URL", "")
    hub = env.hub()
    with pytest.raises(WebhookRejected) as refused:
        hub.receive_webhook("discourse", {"X-Discourse-Event-Type": "post"}, b"{}")
    hub.close()
    assert refused.value.status == 503 and "DISCOURSE_URL" in refused.value.message
    assert count(DiscussionTopic) == 0


@pytest.mark.parametrize("strategy, entity_type, expected", STRATEGY_CASES)
def test_concurrent_edits_in_canvas_and_discourse_resolve_by_the_strategy_of_the_type(env, monkeypatch, strategy,
                                                                                      entity_type, expected):
    check_strategy(env, monkeypatch, strategy, entity_type, expected)


def test_discourse_down_deliveries_wait_in_the_queue_and_complete_when_it_is_back(env):
    env.a.create_topic("Photosynthesis basics", "<p>Light in, sugar out.</p>")
    entry_topic = env.a.topics()[0]["id"]
    env.a.reply(entry_topic, "<p>Chlorophyll is green.</p>")
    env.other.stop()
    env.pull("canvas")
    waiting = queue.RetryPolicy(max_attempts=6, backoff_base_s=60, backoff_max_s=60, lease_s=60)
    queue.process_available(db.session, "test-worker", kinds=[HUB_DELIVERY], policy=waiting)
    ops = db.session.scalars(select(SyncOperation).where(SyncOperation.kind == HUB_DELIVERY)).all()
    assert len(ops) == 2
    assert {(o.status, o.error_class, o.attempts) for o in ops} == {("pending", "transient", 1)}
    assert all("Could not reach Discourse" in o.error_message for o in ops)
    assert all(o.next_attempt_at > utcnow() for o in ops)  # backing off, not spinning
    assert [t["title"] for t in env.b.topics()] == []
    [thread] = env.hub().course_thread(env.course_id)
    assert thread.reached["discourse"] == "pending"
    env.other.start()  # same port, same data
    db.session.execute(SyncOperation.__table__.update().values(next_attempt_at=utcnow()))  # the backoff ran out
    db.session.commit()
    env.drain()
    db.session.expire_all()
    assert {db.session.get(SyncOperation, o.id).status for o in ops} == {"completed"}
    [copy] = env.b.topics()
    assert copy["title"] == "Photosynthesis basics"
    assert [p["body"] for p in env.b.posts(copy["id"])] == ["<p>Chlorophyll is green.</p>"]
    assert len(env.b.writes()) == 2  # one topic, one reply: nothing lost, nothing twice


def test_throttling_by_discourse_slows_delivery_but_loses_nothing(env):
    """Discourse's admin API limit (60/min; here 4 per 0.5 s so the test is quick): 429s are waited out."""
    for n in range(4):
        topic = env.a.create_topic(f"Throttled topic number {n}", f"<p>Body {n}</p>")
        env.a.reply(topic, f"<p>Reply to topic {n}</p>")
    env.pull("canvas")
    env.other.set_throttle(enabled=True, limit=4, window_s=0.5)
    started = time.monotonic()
    env.drain()
    elapsed = time.monotonic() - started
    throttled = [e for e in env.other.request_log if e.throttled]
    assert throttled and all(e.status == 429 for e in throttled)
    assert elapsed >= 0.5  # slowed down: at least one window waited out
    ops = db.session.scalars(select(SyncOperation).where(SyncOperation.kind == HUB_DELIVERY)).all()
    assert len(ops) == 8 and {o.status for o in ops} == {"completed"}
    titles = sorted(t["title"] for t in env.b.topics())
    assert titles == [f"Throttled topic number {n}" for n in range(4)]
    for topic in env.b.topics():
        n = topic["title"].rsplit(" ", 1)[1]
        assert [p["body"] for p in env.b.posts(topic["id"])] == [f"<p>Reply to topic {n}</p>"]
    assert len([w for w in env.b.writes() if w[0] == "POST"]) == 8 + len(
        [e for e in throttled if e.method == "POST"])  # a throttled write was refused, then sent again once


def test_a_retried_topic_create_finds_the_first_copy_by_external_id(env):
    """The create went through but the hub never recorded it: the retry finds it instead of writing a second."""
    env.a.create_topic("Meiosis and gametes", "<p>Why two divisions?</p>")
    env.pull("canvas")
    env.drain()
    env.forget_deliveries("discourse")
    env.drain()
    [copy] = env.b.topics()
    assert [m for m, _ in env.b.writes()] == ["POST"]  # found by external_id and already up to date
    assert mapped("discourse", "discussion_topic", current_topic().id) == str(copy["id"])


def test_chaos_random_edits_in_canvas_and_discourse_with_faults_end_equal(env, app, monkeypatch):
    """Both sandboxes inject 10% faults while edits land on both sides and locally: all three end equal."""
    started = time.monotonic()
    result = run_chaos(env, app, monkeypatch, edits=200)
    faulted = [e for e in env.other.request_log if e.fault]
    assert result["conflicts"] == count(HubConflict) and [e for e in env.canvas.request_log if e.fault]
    assert {e.fault for e in faulted} >= {"500", "drop", "lost"}  # the faults did happen, writes' answers lost too
    assert time.monotonic() - started < 60


def test_a_malformed_delivery_fails_at_once_in_plain_words(env):
    op, _ = queue.enqueue(db.session, HUB_DELIVERY, target_system="discourse")
    env.drain()
    db.session.expire_all()
    failed = db.session.get(SyncOperation, op.id)
    assert (failed.status, failed.error_class, failed.attempts) == ("failed", "permanent", 1)
    assert "names no entity" in failed.error_message


def test_a_signed_push_is_applied_once_and_a_bad_signature_changes_nothing(env):
    env.a.create_topic("Genetics and inheritance", "<p>Punnett squares?</p>")
    env.sync()
    [copy] = env.b.topics()
    hook = listen(env.other)
    env.b.reply(copy["id"], "A square of the parents' alleles.")
    [push] = pushes(env.other, hook)
    hub = env.hub()
    try:
        forged = {**push.headers, "X-Discourse-Event-Signature": "sha256=" + "0" * 64}
        with pytest.raises(WebhookRejected) as refused:
            hub.receive_webhook("discourse", forged, push.body)
        assert refused.value.status == 401 and count(DiscussionPost) == 0
        tampered = push.body.replace(b"alleles", b"secrets")
        with pytest.raises(WebhookRejected):
            hub.receive_webhook("discourse", push.headers, tampered)
        assert count(DiscussionPost) == 0
        assert hub.receive_webhook("discourse", push.headers, push.body) == {"created": 1}
        assert hub.receive_webhook("discourse", push.headers, push.body) == {"replayed": 1}
    finally:
        hub.close()
    env.drain()
    [canvas_topic] = env.a.topics()
    assert [p["body"] for p in env.a.posts(canvas_topic["id"])] == ["<p>A square of the parents' alleles.</p>"]
    assert count(DiscussionPost) == 1


def test_discourse_post_processing_a_delivered_post_is_no_edit_and_no_conflict(env):
    """Discourse rebakes a saved post in the background (link attributes, a preview for a lone link):
    cooked changes, raw does not. Echoes are compared on raw, so nothing reads as an edit."""
    topic_id = env.a.create_topic("Reading list", "<p>See below.</p>")
    env.a.reply(topic_id, '<p><a href="https://example.org/cells">https://example.org/cells</a></p>')
    env.sync()
    post = db.session.scalars(select(DiscussionPost)).one()
    body_before, updated_before = post.body_html, post.updated_at
    topic = current_topic()
    forum = env.other.forum
    first_post = forum.first_post(forum.topics[int(mapped("discourse", "discussion_topic", topic.id))])
    reply_id = int(mapped("discourse", "discussion_post", post.id))
    env.other.post_process(first_post.id)
    assert 'rel="noopener nofollow ugc"' in env.other.post_process(reply_id)
    reply_copy = env.other.forum.posts[int(mapped("discourse", "discussion_post", post.id))]
    assert 'class="onebox"' in reply_copy.cooked  # the forum now renders it differently
    writes = (len(env.a.writes()), len(env.b.writes()))
    pulled = env.pull("discourse")
    assert set(pulled) == {"unchanged"}, pulled
    env.drain()
    env.sync()
    db.session.expire_all()
    assert (post.body_html, post.updated_at, post.updated_by_system) == (body_before, updated_before, "canvas")
    assert count(HubConflict) == 0
    assert (len(env.a.writes()), len(env.b.writes())) == writes  # nothing written back anywhere
