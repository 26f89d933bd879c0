"""Signed Discourse bodies used against us: a swapped header, a replay under a fresh id, an older body.

The signature covers the body only, so whoever saw one delivery can resend it with any
X-Discourse-Event and X-Discourse-Event-Id. None of that may change anything.
Against the sandbox Discourse (real HTTP for the delete confirmation), on every backend.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from itertools import count

from sqlalchemy import select

from app.extensions import db
from app.models import DiscussionPost, HubEntityMap
from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 (fixture)
from tests.web.hub_env import CATEGORY, WEBHOOK_SECRET, hub_env  # noqa: F401 (fixture)

_ids = count(70_000)


def signed_post(env, post_id: int) -> bytes:
    """The post's body exactly as the sandbox serializes a post webhook now."""
    from sandbox.discourse.serialize import webhook_post

    forum = env.discourse.forum
    with forum.lock:
        payload = webhook_post(forum, forum.post(post_id, with_deleted=True))
    return json.dumps({"post": payload}).encode()


def push(client, body: bytes, event: str = "post_created"):
    headers = {"X-Discourse-Event-Type": "post", "X-Discourse-Event": event,
               "X-Discourse-Event-Id": str(next(_ids)),  # a fresh id every time, as a replayer would send
               "Content-Type": "application/json",
               "X-Discourse-Event-Signature": "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body,
                                                                   hashlib.sha256).hexdigest()}
    response = client.post("/webhooks/discourse", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["applied"]


def local_post(discourse_post_id: int) -> DiscussionPost | None:
    db.session.expire_all()
    mapping = db.session.scalar(select(HubEntityMap).where(HubEntityMap.system == "discourse",
                                                            HubEntityMap.entity_type == "discussion_post",
                                                            HubEntityMap.external_id == str(discourse_post_id)))
    return db.session.get(DiscussionPost, mapping.local_id) if mapping else None


def a_reply(env, raw: str) -> int:
    topic = next(t for t in env.discourse.forum.topics.values() if t.category_id == CATEGORY)
    return env.discourse.reply("alice", topic.id, raw)["id"]


def test_a_header_swapped_to_post_destroyed_deletes_nothing(hub_env, client):
    env = hub_env
    env.pull("discourse")
    post_id = a_reply(env, "A reply that must stay.")
    body = signed_post(env, post_id)
    assert push(client, body, event="post_destroyed") == {"created": 1}  # taken as what the body says
    assert push(client, body, event="post_destroyed") == {"replayed": 1}
    post = local_post(post_id)
    # Deliveries carry the local state: a post not deleted here is deleted nowhere.
    assert post is not None and post.deleted_at is None and "must stay" in post.body_html


def test_a_replayed_or_older_body_under_a_fresh_id_reverts_nothing(hub_env, client):
    env = hub_env
    env.pull("discourse")
    post_id = a_reply(env, "First words of this reply, long enough.")
    first = signed_post(env, post_id)
    assert push(client, first) == {"created": 1}
    env.discourse.advance_clock(3600)  # past the grace period: the edit is a new version
    env.discourse.edit_post("alice", post_id, "Second, corrected words of this reply.")
    second = signed_post(env, post_id)
    assert push(client, second, event="post_edited") == {"updated": 1}

    assert push(client, first) == {"replayed": 1}  # the same signed body, a fresh id
    assert "corrected" in local_post(post_id).body_html

    env.discourse.advance_clock(3600)
    env.discourse.edit_post("alice", post_id, "Third words of this reply, long enough.")
    third = signed_post(env, post_id)
    env.discourse.advance_clock(3600)
    env.discourse.edit_post("alice", post_id, "Fourth words of this reply, long enough.")
    env.pull("discourse")  # the hub learns the fourth version by polling
    assert "Fourth" in local_post(post_id).body_html
    assert push(client, third, event="post_edited") == {"stale": 1}  # never seen, but older than what is held
    assert "Fourth" in local_post(post_id).body_html


def test_a_delete_is_applied_only_when_discourse_confirms_it(hub_env, client):
    env = hub_env
    env.pull("discourse")
    kept_id, gone_id = a_reply(env, "Deleted, then recovered."), a_reply(env, "Really deleted, for good.")
    assert push(client, signed_post(env, kept_id)) == {"created": 1}
    assert push(client, signed_post(env, gone_id)) == {"created": 1}

    env.discourse.delete_post("alice", kept_id)
    old_delete = signed_post(env, kept_id)  # a genuine signed post_destroyed body...
    env.discourse.forum.recover_post(env.discourse.user("alice"), kept_id)  # ...that is no longer true
    assert push(client, old_delete, event="post_destroyed") == {"unconfirmed": 1}
    assert local_post(kept_id).deleted_at is None

    env.discourse.delete_post("alice", gone_id)
    assert push(client, signed_post(env, gone_id), event="post_destroyed") == {"updated": 1}  # the hub's word for it
    assert local_post(gone_id).deleted_at is not None


def test_a_signed_but_malformed_discourse_body_is_400(hub_env, client):
    for payload in ({"post": {"category_id": CATEGORY, "post_number": 2, "cooked": "<p>no id</p>"}},
                    {"post": {"category_id": "not-a-number"}},
                    {"topic": {"category_id": CATEGORY, "deleted_at": "2026-12-01T10:00:00Z"}}):
        body = json.dumps(payload).encode()
        headers = {"X-Discourse-Event-Type": "post" if "post" in payload else "topic",
                   "X-Discourse-Event": "post_created", "X-Discourse-Event-Id": str(next(_ids)),
                   "X-Discourse-Event-Signature": "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body,
                                                                       hashlib.sha256).hexdigest()}
        response = client.post("/webhooks/discourse", data=body, headers=headers)
        assert response.status_code == 400, payload
        assert response.get_json() == {"error": "The push could not be read."}
