"""DiscourseConnector against the sandbox Discourse over real HTTP: pull, apply, webhooks."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest

from app.sync.connectors import Change, WebhookRejected, registry
from app.sync.connectors.discourse import DiscourseConnector, compose_raw, hub_ref_in
from app.sync.errors import ConflictError, PermanentError, TransientError
from tests.fixtures.discourse import discourse_api, discourse_sandbox, make_discourse_sandbox  # noqa: F401

SECRET = "hub-webhook-secret"


def connector(sb, categories=(2,), **kwargs) -> DiscourseConnector:
    return DiscourseConnector(discourse_api(sb, **kwargs), SECRET, categories)


def outbound(entity_type, external_id="", parent="2", **data) -> Change:
    return Change("canvas", entity_type, external_id, data=data, parent_external_id=parent)


def topic_change(ref="cf-discussion_topic-1", **data):
    return outbound("discussion_topic", title="Week 1: introductions", body_html="<p>Say hello to everyone.</p>",
                    hub_ref=ref, **data)


def test_pull_yields_topics_with_their_first_post_then_replies(discourse_sandbox):
    sb = discourse_sandbox
    changes = list(connector(sb).pull(None))
    topics = [c for c in changes if c.entity_type == "discussion_topic"]
    posts = [c for c in changes if c.entity_type == "discussion_post"]
    assert len(topics) == 2 and len(posts) == 4  # category 2 only; first posts are not separate
    for topic in topics:
        model = sb.forum.topics[int(topic.external_id)]
        first = sb.forum.first_post(model)
        assert topic.origin == "discourse" and topic.parent_external_id == "2"
        assert topic.data["title"] == model.title and topic.data["body_html"] == first.cooked
        assert topic.data["version"] == 1 and topic.data["deleted"] is False
        assert topic.updated_at.tzinfo is not None
    for post in posts:
        model = sb.forum.posts[int(post.external_id)]
        assert post.parent_external_id == str(model.topic_id) and post.data["author_name"] in ("Alice Archer", "Bob Baker")
    # a topic comes before its replies
    order = [(c.entity_type, c.external_id if c.entity_type == "discussion_topic" else c.parent_external_id)
             for c in changes]
    for i, (kind, topic_id) in enumerate(order):
        if kind == "discussion_post":
            assert ("discussion_topic", topic_id) in order[:i]


def test_pull_since_returns_only_what_changed(discourse_sandbox):
    sb = discourse_sandbox
    sb.advance_clock(3600)
    since = datetime.fromtimestamp(sb.clock.now(), tz=timezone.utc)
    reply = sb.forum.posts[2]
    sb.edit_post("bob", reply.id, "Bob edits an old reply, which does not bump the topic.")
    changes = list(connector(sb).pull(since))
    assert [(c.entity_type, c.external_id) for c in changes] == [("discussion_post", str(reply.id))]
    assert changes[0].data["version"] == 2 and "Bob edits" in changes[0].data["body_html"]


def test_create_topic_uses_external_id_and_a_retry_never_makes_a_second(discourse_sandbox):
    sb = discourse_sandbox
    conn = connector(sb)
    applied = conn.apply(topic_change())
    topic = sb.forum.topics[int(applied.external_id)]
    assert topic.external_id == "cf-discussion_topic-1" and topic.category_id == 2
    assert applied.version == 1 and applied.data["body_html"] == "<p>Say hello to everyone.</p>"
    assert hub_ref_in(sb.forum.first_post(topic).raw) == "cf-discussion_topic-1"
    sb.advance_clock(200)  # past Discourse's own 120 s memoizer: only external_id protects us now
    again = conn.apply(topic_change())
    assert again.external_id == applied.external_id
    assert sum(1 for t in sb.forum.topics.values() if t.external_id == "cf-discussion_topic-1") == 1


def test_create_whose_answer_was_lost_is_found_on_retry(discourse_sandbox):
    sb = discourse_sandbox
    conn = connector(sb, max_retries=0)
    sb.set_faults(1.0, kinds=["lost"], methods=["POST"])
    with pytest.raises(TransientError):
        conn.apply(topic_change("cf-discussion_topic-9"))
    sb.set_faults(0.0)
    sb.advance_clock(200)
    applied = conn.apply(topic_change("cf-discussion_topic-9"))
    assert sum(1 for t in sb.forum.topics.values() if t.external_id == "cf-discussion_topic-9") == 1
    assert sb.forum.topics[int(applied.external_id)].external_id == "cf-discussion_topic-9"


def test_reply_carries_its_hub_ref_and_a_retry_finds_it(discourse_sandbox):
    sb = discourse_sandbox
    conn = connector(sb)
    change = outbound("discussion_post", parent="1", body_html="<p>Short reply.</p>", hub_ref="cf-discussion_post-4")
    applied = conn.apply(change)
    post = sb.forum.posts[int(applied.external_id)]
    assert post.topic_id == 1 and post.cooked == "<p>Short reply.</p>"  # the marker never shows in cooked
    sb.advance_clock(200)
    assert conn.apply(change).external_id == applied.external_id
    assert sum(1 for p in sb.forum.posts.values() if hub_ref_in(p.raw) == "cf-discussion_post-4") == 1
    pulled = [c for c in conn.pull(None) if c.external_id == applied.external_id]
    assert pulled[0].data["hub_ref"] == "cf-discussion_post-4"


def test_edit_with_previous_body_and_title(discourse_sandbox):
    sb = discourse_sandbox
    conn = connector(sb)
    created = conn.apply(topic_change())
    sb.advance_clock(301)
    edit = Change("local", "discussion_topic", created.external_id, parent_external_id="2",
                  data={"title": "Week 1: say hello", "body_html": "<p>Say hello, then reply to two people.</p>",
                        "hub_ref": "cf-discussion_topic-1", "previous_body": "<p>Say hello to everyone.</p>"})
    applied = conn.apply(edit)
    topic = sb.forum.topics[int(created.external_id)]
    assert topic.title == "Week 1: say hello" and applied.version == 2
    assert applied.data["body_html"] == "<p>Say hello, then reply to two people.</p>"
    assert conn.apply(edit).version == 2  # the same edit again changes nothing


def test_concurrent_discourse_edit_is_a_conflict_with_the_current_body(discourse_sandbox):
    sb = discourse_sandbox
    conn = connector(sb)
    created = conn.apply(outbound("discussion_post", parent="1", body_html="<p>Original words.</p>",
                                  hub_ref="cf-discussion_post-5"))
    sb.edit_post("alice", int(created.external_id), "Alice changed this reply in Discourse.")
    edit = outbound("discussion_post", created.external_id, parent="1", body_html="<p>Canvas changed it too.</p>",
                    hub_ref="cf-discussion_post-5", previous_body="<p>Original words.</p>")
    with pytest.raises(ConflictError) as caught:
        conn.apply(edit)
    assert isinstance(caught.value, TransientError)
    assert caught.value.current == "<p>Alice changed this reply in Discourse.</p>"
    assert sb.forum.posts[int(created.external_id)].raw == "Alice changed this reply in Discourse."
    # The hub resolves and retries with what Discourse holds as the new base: accepted.
    resolved = outbound("discussion_post", created.external_id, parent="1", body_html="<p>Merged words.</p>",
                        hub_ref="cf-discussion_post-5", previous_body=caught.value.current)
    assert conn.apply(resolved).data["body_html"] == "<p>Merged words.</p>"


def test_previous_body_in_cooked_form_is_not_a_conflict(discourse_sandbox):
    sb = discourse_sandbox
    reply = sb.forum.posts[2]  # written in Discourse as Markdown; the hub knows its cooked HTML
    edit = outbound("discussion_post", str(reply.id), parent=str(reply.topic_id),
                    body_html="<p>Edited from Canvas Flow.</p>", hub_ref=None, previous_body=reply.cooked)
    applied = connector(sb).apply(edit)
    assert sb.forum.posts[reply.id].raw == "<p>Edited from Canvas Flow.</p>" and applied.version == 2


def test_delete_and_problems_in_plain_words(discourse_sandbox):
    sb = discourse_sandbox
    conn = connector(sb)
    reply = sb.forum.posts[2]
    conn.apply(Change("canvas", "discussion_post", str(reply.id), Change.DELETE, parent_external_id="1"))
    assert sb.forum.posts[reply.id].deleted_at is not None
    conn.apply(Change("canvas", "discussion_post", str(reply.id), Change.DELETE, parent_external_id="1"))  # again: fine
    with pytest.raises(PermanentError, match="not linked to a Discourse category"):
        conn.apply(Change("canvas", "discussion_topic", "", data={"title": "x"}))
    bad = DiscourseConnector(discourse_api(sb, "wrong-key-123"), SECRET, [2])
    with pytest.raises(PermanentError) as caught:
        bad.apply(topic_change())
    assert "API key" in caught.value.message and "wrong-key-123" not in caught.value.message


def test_registry_builds_it_as_the_hub_does(discourse_sandbox):
    """factory(credentials, http session, settings): the app config plus course_ids (the linked categories)."""
    settings = {"DISCOURSE_URL": discourse_sandbox.base_url, "DISCOURSE_API_KEY": discourse_sandbox.api_key,
                "DISCOURSE_API_USERNAME": "system", "DISCOURSE_WEBHOOK_SECRET": SECRET, "course_ids": ["2"]}
    conn = registry.create("discourse", None, None, settings)
    assert isinstance(conn, DiscourseConnector) and conn.category_ids == [2] and conn.webhook_secret == SECRET
    assert any(c.entity_type == "discussion_topic" for c in conn.pull(None))
    conn.close()
    with pytest.raises(PermanentError, match="DISCOURSE_URL"):
        registry.create("discourse", None, None, {"course_ids": ["2"]})


# -- webhooks ------------------------------------------------------------------------


def deliveries_for(sb, httpserver, act):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sb.add_webhook(httpserver.url_for("/hook"), SECRET)
    act()
    assert sb.wait_webhooks()
    return [(dict(req.headers), req.get_data()) for req, _ in httpserver.log]


def test_signed_webhooks_become_changes_with_their_event_id(discourse_sandbox, httpserver):
    sb = discourse_sandbox
    conn = connector(sb)
    state = {}

    def act():
        topic = sb.create_topic("alice", 2, "Alice asks in Discourse", "Alice asks a question in the forum.")
        state["topic"] = topic
        state["reply"] = sb.reply("bob", topic["topic_id"], "Bob answers the question in Discourse.")
        sb.edit_post("alice", topic["id"], "Alice clarifies her question in Discourse.", title="Alice asks, clarified")

    changes = []
    for headers, body in deliveries_for(sb, httpserver, act):
        changes.extend(conn.parse_webhook(headers, body))
    kinds = [(c.entity_type, c.action, c.external_id) for c in changes]
    topic_id, reply_id = str(state["topic"]["topic_id"]), str(state["reply"]["id"])
    assert kinds == [("discussion_topic", "upsert", topic_id), ("discussion_post", "upsert", reply_id),
                     ("discussion_topic", "upsert", topic_id)]  # topic_created is covered by post 1's event
    assert changes[0].data["body_html"] == "<p>Alice asks a question in the forum.</p>"
    assert changes[0].data["title"] == "Alice asks in Discourse" and changes[0].parent_external_id == "2"
    assert changes[0].data["version"] == 1 and changes[0].data["author_name"] == "Alice Archer"
    assert changes[1].parent_external_id == topic_id and changes[1].data["author_name"] == "Bob Baker"
    # Title and body edited together: Discourse sends only topic_edited, whose payload has no body.
    title_edit = changes[2]
    assert title_edit.data["partial"] is True and title_edit.data["title"] == "Alice asks, clarified"
    assert "body_html" not in title_edit.data
    whole = conn.fetch_topic(title_edit.external_id)
    assert whole.data["body_html"] == "<p>Alice clarifies her question in Discourse.</p>"
    assert whole.data["version"] == 1  # Alice's own edit within 5 minutes: a "ninja edit", no new version
    assert all(c.event_id and c.event_id.isdigit() for c in changes)
    assert len({c.event_id for c in changes}) == 3


def test_bad_or_missing_signature_is_401(discourse_sandbox, httpserver):
    sb = discourse_sandbox
    conn = connector(sb)
    headers, body = deliveries_for(sb, httpserver, lambda: sb.reply("bob", 1, "A reply to be tampered with."))[0]
    tampered = body.replace(b"tampered", b"TAMPERED")
    with pytest.raises(WebhookRejected) as caught:
        conn.parse_webhook(headers, tampered)
    assert caught.value.status == 401
    unsigned = {k: v for k, v in headers.items() if k.lower() != "x-discourse-event-signature"}
    with pytest.raises(WebhookRejected):
        conn.parse_webhook(unsigned, body)
    with pytest.raises(WebhookRejected):
        DiscourseConnector(discourse_api(sb), None, [2]).parse_webhook(headers, body)  # no secret configured
    with pytest.raises(WebhookRejected):
        DiscourseConnector(discourse_api(sb), "other-secret", [2]).parse_webhook(headers, body)
    assert len(conn.parse_webhook(headers, body)) == 1


def test_ping_unwatched_categories_and_deletes(discourse_sandbox):
    conn = connector(discourse_sandbox)

    def signed(event_type, event, payload):
        body = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Discourse-Event-Type": event_type, "X-Discourse-Event": event, "X-Discourse-Event-Id": "77",
                "X-Discourse-Event-Signature": sig}, body

    assert conn.parse_webhook(*signed("ping", "ping", {"ping": "OK"})) == []
    post = {"id": 50, "topic_id": 9, "post_number": 3, "post_type": 1, "category_id": 3, "cooked": "<p>x</p>"}
    assert conn.parse_webhook(*signed("post", "post_created", {"post": post})) == []  # category 3 not watched
    whisper = {**post, "category_id": 2, "post_type": 4}
    assert conn.parse_webhook(*signed("post", "post_created", {"post": whisper})) == []
    destroyed = {**post, "category_id": 2, "deleted_at": "2026-12-01T10:00:00.000Z"}
    [deleted] = conn.parse_webhook(*signed("post", "post_destroyed", {"post": destroyed}))
    assert (deleted.action, deleted.entity_type, deleted.event_id, deleted.data["deleted"]) == \
        ("delete", "discussion_post", "77", True)
    # The header is not signed: "post_destroyed" over a live post's body deletes nothing.
    [swapped] = conn.parse_webhook(*signed("post", "post_destroyed", {"post": {**post, "category_id": 2}}))
    assert (swapped.action, swapped.data["deleted"]) == ("upsert", False)
    [gone] = conn.parse_webhook(*signed("topic", "topic_destroyed", {"topic": {
        "id": 9, "category_id": 2, "external_id": "cf-discussion_topic-3", "deleted_at": "2026-12-01T10:00:00Z"}}))
    assert (gone.action, gone.external_id, gone.data["hub_ref"]) == ("delete", "9", "cf-discussion_topic-3")
    with pytest.raises(WebhookRejected) as caught:
        conn.parse_webhook(signed("post", "post_created", {"post": post})[0], b"not json")
    assert caught.value.status == 401  # a body that does not match its signature is refused first
    garbage = b"not json"
    headers = {"X-Discourse-Event-Type": "post", "X-Discourse-Event-Signature":
               "sha256=" + hmac.new(SECRET.encode(), garbage, hashlib.sha256).hexdigest()}
    with pytest.raises(WebhookRejected) as caught:
        conn.parse_webhook(headers, garbage)
    assert caught.value.status == 400


def test_compose_raw_round_trips_the_marker():
    raw = compose_raw("<p>Hi</p>", "cf-discussion_post-12")
    assert raw == "<p>Hi</p>\n\n<!-- canvas-flow:cf-discussion_post-12 -->"
    assert hub_ref_in(raw) == "cf-discussion_post-12" and hub_ref_in("<p>Hi</p>") is None


def test_round_trip_what_we_wrote_comes_back_with_our_refs(discourse_sandbox):
    sb = discourse_sandbox
    conn = connector(sb)
    sb.clear_log()
    topic = conn.apply(topic_change("cf-discussion_topic-20"))
    reply = conn.apply(outbound("discussion_post", parent=topic.external_id, body_html="<p>A reply from Canvas.</p>",
                                hub_ref="cf-discussion_post-21"))
    assert [(e.method, e.path) for e in sb.writes()] == [("POST", "/posts.json"), ("POST", "/posts.json")]
    pulled = {(c.entity_type, c.external_id): c for c in conn.pull(None)}
    back_topic = pulled[("discussion_topic", topic.external_id)]
    back_reply = pulled[("discussion_post", reply.external_id)]
    assert back_topic.data["hub_ref"] == "cf-discussion_topic-20"
    assert back_topic.data["body_html"] == topic.data["body_html"] and back_topic.data["version"] == topic.version
    assert back_reply.data["hub_ref"] == "cf-discussion_post-21" and back_reply.parent_external_id == topic.external_id
    assert back_reply.data["body_html"] == reply.data["body_html"] == "<p>A reply from Canvas.</p>"


def test_throttling_slows_applies_and_loses_nothing(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle_limit=3, throttle_window_s=1)
    conn = connector(sb)
    applied = [conn.apply(outbound("discussion_post", parent="1", body_html=f"<p>Reply {i}</p>",
                                   hub_ref=f"cf-discussion_post-{100 + i}")) for i in range(4)]
    assert len({a.external_id for a in applied}) == 4
    assert any(e.status == 429 for e in sb.request_log)
    for i in range(4):
        assert sum(1 for p in sb.forum.posts.values() if hub_ref_in(p.raw) == f"cf-discussion_post-{100 + i}") == 1


def test_faults_with_retries_end_with_no_duplicates_and_the_last_edit(make_discourse_sandbox):
    """What the hub's queue does (retry a TransientError) over 15% faults, lost answers included."""
    import random

    sb = make_discourse_sandbox(throttle=False)
    conn = connector(sb, max_retries=1)
    sb.set_faults(0.15, seed=5, kinds=["500", "503", "drop", "lost"])
    rng = random.Random(5)

    def deliver(change):
        for _ in range(30):
            try:
                return conn.apply(change)
            except ConflictError:
                raise
            except TransientError:
                continue
        raise AssertionError("still failing after 30 tries")

    topic = deliver(topic_change("cf-discussion_topic-50"))
    mapped, bodies = {}, {}
    for step in range(30):
        n = rng.randrange(4)
        ref = f"cf-discussion_post-{500 + n}"
        body = f"<p>Version {step} of reply {n}.</p>"
        change = outbound("discussion_post", mapped.get(ref, ""), parent=topic.external_id, body_html=body,
                          hub_ref=ref, previous_body=bodies.get(ref))
        applied = deliver(change)
        mapped[ref], bodies[ref] = applied.external_id, body
    sb.set_faults(0.0)
    assert any(e.fault == "lost" for e in sb.request_log) and any(e.fault == "drop" for e in sb.request_log)
    assert sum(1 for t in sb.forum.topics.values() if t.external_id == "cf-discussion_topic-50") == 1
    for ref, post_id in mapped.items():
        mine = [p for p in sb.forum.posts.values() if hub_ref_in(p.raw) == ref]
        assert [p.id for p in mine] == [int(post_id)]
        assert mine[0].cooked == bodies[ref]


def test_pull_errors_are_translated_and_deleted_topics_not_recreated(discourse_sandbox):
    sb = discourse_sandbox
    with pytest.raises(PermanentError, match="Discourse has no"):
        list(connector(sb, categories=(99,)).pull(None))
    conn = connector(sb)
    created = conn.apply(topic_change("cf-discussion_topic-60"))
    sb.delete_post("system", sb.forum.first_post(sb.forum.topics[int(created.external_id)]).id)
    sb.advance_clock(200)
    with pytest.raises(PermanentError, match="deleted there"):
        conn.apply(topic_change("cf-discussion_topic-60"))
    assert sum(1 for t in sb.forum.topics.values() if t.external_id == "cf-discussion_topic-60") == 1
