"""Sandbox Discourse webhooks: signed, delivered on content changes, retried like Discourse."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

from werkzeug import Response

from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 - fixture

SECRET = "webhook-secret-for-tests"


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def received(httpserver):
    return [(req, resp) for req, resp in httpserver.log]


def test_content_changes_post_signed_events(make_discourse_sandbox, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sb = make_discourse_sandbox()
    sb.add_webhook(httpserver.url_for("/hook"), SECRET)
    topic = sb.create_topic("alice", 2, "A topic made in Discourse", "Alice writes the first post here.")
    sb.reply("bob", topic["topic_id"], "Bob answers Alice with a reply.")
    sb.edit_post("alice", topic["id"], "Alice edits the first post of hers.")
    assert sb.wait_webhooks()
    events = [(r.headers["X-Discourse-Event-Type"], r.headers["X-Discourse-Event"]) for r, _ in received(httpserver)]
    assert events == [("topic", "topic_created"), ("post", "post_created"), ("post", "post_created"),
                      ("post", "post_edited")]
    ids = []
    for req, _ in received(httpserver):
        body = req.get_data()
        assert req.headers["X-Discourse-Event-Signature"] == signature(body)
        assert req.headers["X-Discourse-Instance"] == sb.base_url
        ids.append(int(req.headers["X-Discourse-Event-Id"]))
    assert ids == sorted(set(ids))
    edited = json.loads(received(httpserver)[-1][0].get_data())["post"]
    assert edited["raw"] == "Alice edits the first post of hers." and edited["topic_title"] == "A topic made in Discourse"
    assert edited["category_id"] == 2 and edited["post_number"] == 1


def test_no_secret_no_signature_and_category_filter(make_discourse_sandbox, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sb = make_discourse_sandbox()
    sb.add_webhook(httpserver.url_for("/hook"), None, category_ids=[3])
    sb.reply("alice", 1, "A reply in category two, filtered out.")  # topic 1 is in category 2
    topic_in_3 = sb.forum.category_topics(3)[0]
    sb.reply("alice", topic_in_3.id, "A reply in category three, delivered.")
    assert sb.wait_webhooks()
    reqs = [r for r, _ in received(httpserver)]
    assert len(reqs) == 1 and "X-Discourse-Event-Signature" not in reqs[0].headers
    assert json.loads(reqs[0].get_data())["post"]["topic_id"] == topic_in_3.id


def test_failed_delivery_is_retried_with_a_new_event_id(make_discourse_sandbox, httpserver):
    answers = iter([500, 500, 200])
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: Response("x", status=next(answers, 200)))
    sb = make_discourse_sandbox(webhook_retry_unit_s=0.02)  # retries after 1, 5 "minutes"
    sb.add_webhook(httpserver.url_for("/hook"), SECRET)
    sb.reply("bob", 1, "A reply whose webhook fails twice.")
    deadline = time.monotonic() + 3
    while len(httpserver.log) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    reqs = [r for r, _ in received(httpserver)]
    assert [resp.status_code for _, resp in received(httpserver)] == [500, 500, 200]
    assert len({r.headers["X-Discourse-Event-Id"] for r in reqs}) == 3  # each attempt is a new WebHookEvent
    assert len({r.get_data() for r in reqs}) == 1
    assert [d.attempt for d in sb.deliveries] == [1, 2, 3]


def test_receiver_down_is_not_retried_and_redeliver_replays_the_same_event(make_discourse_sandbox, httpserver):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    sb = make_discourse_sandbox(webhook_retry_unit_s=0.01)
    sb.add_webhook(f"http://127.0.0.1:{dead_port}/hook", SECRET)
    sb.reply("bob", 1, "Nobody is listening to this one.")
    assert sb.wait_webhooks()
    time.sleep(0.1)
    assert [(d.status, d.attempt) for d in sb.deliveries] == [(-1, 1)]  # lost: polling must catch up
    # Admin "redeliver" to a live receiver: same id, same body, same signature.
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = sb.webhooks.hooks[1]
    hook.url = httpserver.url_for("/hook")
    sb.webhooks.redeliver(sb.deliveries[0].event_id)
    assert sb.wait_webhooks()
    req = received(httpserver)[0][0]
    assert req.headers["X-Discourse-Event-Id"] == str(sb.deliveries[0].event_id)
    assert req.headers["X-Discourse-Event-Signature"] == signature(req.get_data())


def test_ping(make_discourse_sandbox, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    sb = make_discourse_sandbox()
    hook = sb.add_webhook(httpserver.url_for("/hook"), SECRET)
    sb.webhooks.ping(hook.id)
    assert sb.wait_webhooks()
    req = received(httpserver)[0][0]
    assert req.headers["X-Discourse-Event-Type"] == "ping" and req.get_data() == b'{"ping":"OK"}'
