"""Sandbox Discourse over real HTTP: auth, lists and paging, topics, posts, versions, 409."""
from __future__ import annotations

import requests

from sandbox.discourse import EDIT_CONFLICT
from tests.fixtures.discourse import discourse_sandbox, make_discourse_sandbox  # noqa: F401 - fixtures

TIMEOUT = 5


def call(sb, method, path, *, key=None, username="system", **kwargs):
    headers = {"Api-Key": key or sb.api_key, "Api-Username": username} if key != "" else {}
    return requests.request(method, sb.base_url + path, headers=headers, timeout=TIMEOUT, **kwargs)


def test_bad_key_is_403_invalid_access_and_no_key_cannot_write(discourse_sandbox):
    sb = discourse_sandbox
    r = call(sb, "GET", "/latest.json", key="wrong")
    assert r.status_code == 403
    assert r.json() == {"errors": ["You are not permitted to view the requested resource. The API username or key "
                                   "is invalid."], "error_type": "invalid_access"}
    assert call(sb, "GET", "/latest.json", username="nobody").status_code == 403  # unknown Api-Username
    assert call(sb, "GET", "/latest.json", key="").status_code == 200  # anonymous reads of public categories
    r = call(sb, "POST", "/posts.json", key="", json={"topic_id": 1, "raw": "x" * 30})
    assert (r.status_code, r.json()["error_type"]) == (403, "not_logged_in")


def test_category_list_pages_only_say_more_when_full(make_discourse_sandbox):
    sb = make_discourse_sandbox(categories=1, topics_per_category=4, replies_per_topic=0)
    cat = sb.forum.categories[2]
    first = call(sb, "GET", f"/c/{cat.slug}/{cat.id}.json", params={"per_page": 2}).json()["topic_list"]
    assert len(first["topics"]) == 2 and first["more_topics_url"].endswith("page=1")
    second = call(sb, "GET", f"/c/{cat.id}.json", params={"per_page": 2, "page": 1}).json()["topic_list"]
    assert len(second["topics"]) == 2 and "more_topics_url" in second  # a full last page still says "more"
    third = call(sb, "GET", f"/c/{cat.id}.json", params={"per_page": 2, "page": 2}).json()["topic_list"]
    assert third["topics"] == [] and "more_topics_url" not in third
    ids = [t["id"] for t in first["topics"] + second["topics"]]
    assert sorted(ids) == sorted(t.id for t in sb.forum.category_topics(cat.id))


def test_topic_create_with_external_id_found_by_redirect_and_unique(discourse_sandbox):
    sb = discourse_sandbox
    body = {"title": "Hub topic from Canvas", "raw": "A body that is long enough.", "category": 2,
            "external_id": "cf-discussion_topic-7"}
    post = call(sb, "POST", "/posts.json", json=body).json()
    assert post["post_number"] == 1 and post["version"] == 1 and post["cooked"] == "<p>A body that is long enough.</p>"
    r = call(sb, "GET", "/t/external_id/cf-discussion_topic-7.json", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == \
        f"{sb.base_url}/t/hub-topic-from-canvas/{post['topic_id']}.json"
    assert call(sb, "GET", "/t/external_id/cf-discussion_topic-7.json").json()["id"] == post["topic_id"]
    assert call(sb, "GET", "/t/external_id/nope.json").status_code == 404
    # An identical API retry within 120 s is memoized: the same post, not a second topic.
    assert call(sb, "POST", "/posts.json", json=body).json()["id"] == post["id"]
    r = call(sb, "POST", "/posts.json", json={**body, "raw": "Different body, same external id."})
    assert r.status_code == 422 and r.json()["errors"] == ["External has already been taken"]


def test_topic_view_chunks_and_posts_by_id(make_discourse_sandbox):
    sb = make_discourse_sandbox(categories=1, topics_per_category=1, replies_per_topic=24)
    topic = sb.forum.category_topics(2)[0]
    view = call(sb, "GET", f"/t/{topic.id}.json").json()
    stream = view["post_stream"]
    assert len(stream["stream"]) == 25 and len(stream["posts"]) == 20 and "raw" not in stream["posts"][0]
    rest = stream["stream"][20:]
    posts = call(sb, "GET", f"/t/{topic.id}/posts.json", params={"post_ids[]": rest, "include_raw": "true"}).json()
    assert [p["id"] for p in posts["post_stream"]["posts"]] == rest and "raw" in posts["post_stream"]["posts"][0]


def test_versions_bump_outside_the_grace_period_and_for_another_editor(discourse_sandbox):
    sb = discourse_sandbox
    post_id = call(sb, "POST", "/posts.json", json={"topic_id": 1, "raw": "First words of a reply here."}).json()["id"]

    def edit(raw, username="system", original=None):
        body = {"post": {"raw": raw, **({"original_text": original} if original else {})}}
        return call(sb, "PUT", f"/posts/{post_id}.json", username=username, json=body)

    assert edit("First words of a reply, fixed.").json()["post"]["version"] == 1  # same editor, within 5 min
    assert edit("Alice changes the reply now.", username="alice").json()["post"]["version"] == 2
    sb.advance_clock(301)
    assert edit("Alice edits again, later on.", username="alice").json()["post"]["version"] == 3
    assert edit("Alice edits again, later on!", username="alice").json()["post"]["version"] == 3
    assert edit("x" * 500 + " a big rewrite", username="alice").json()["post"]["version"] == 4  # too big to ninja
    same = edit("x" * 500 + " a big rewrite", username="bob")
    assert same.json()["post"]["version"] == 4  # no change at all: no revision
    revision = call(sb, "GET", f"/posts/{post_id}/revisions/latest.json").json()
    assert revision["current_revision"] == 4 and revision["body_changes"]["side_by_side_markdown"]["before"] == \
        "Alice edits again, later on!"


def test_stale_original_text_is_409_and_changes_nothing(discourse_sandbox):
    sb = discourse_sandbox
    post = sb.forum.posts[2]
    before = post.raw
    r = call(sb, "PUT", f"/posts/{post.id}.json", json={"post": {"raw": "Mine mine mine mine mine", "original_text": "old"}})
    assert r.status_code == 409 and r.json()["errors"] == [EDIT_CONFLICT]
    assert sb.forum.posts[2].raw == before
    ok = call(sb, "PUT", f"/posts/{post.id}.json", json={"post": {"raw": "Mine mine mine mine mine", "original_text": before}})
    assert ok.status_code == 200 and ok.json()["post"]["raw"] == "Mine mine mine mine mine"


def test_cooked_is_sanitized_html(discourse_sandbox):
    sb = discourse_sandbox
    raw = 'Hello **there** <script>alert(1)</script> <a href="javascript:x()">bad</a>\n\n<!-- hidden -->'
    post = call(sb, "POST", "/posts.json", json={"topic_id": 1, "raw": raw}).json()
    assert post["cooked"] == "<p>Hello <strong>there</strong>  <a>bad</a></p>"
    assert call(sb, "GET", f"/posts/{post['id']}.json").json()["raw"] == raw


def test_post_processing_changes_cooked_only(discourse_sandbox):
    sb = discourse_sandbox
    raw = "Read this:\n\n[https://example.org/a](https://example.org/a)\n\n[a link](https://example.org/b)"
    post = call(sb, "POST", "/posts.json", json={"topic_id": 1, "raw": raw}).json()
    sb.post_process(post["id"])
    after = call(sb, "GET", f"/posts/{post['id']}.json").json()
    assert 'class="onebox" data-onebox-src="https://example.org/a"' in after["cooked"]
    assert '<a href="https://example.org/b" rel="noopener nofollow ugc">a link</a>' in after["cooked"]
    assert (after["raw"], after["version"], after["updated_at"]) == (raw, post["version"], post["updated_at"])


def test_delete_and_validation_errors(discourse_sandbox):
    sb = discourse_sandbox
    short = call(sb, "POST", "/posts.json", json={"title": "Short", "raw": "tiny", "category": 2})
    assert short.status_code == 422 and "Title is too short (minimum is 15 characters)" in short.json()["errors"]
    skipped = call(sb, "POST", "/posts.json", json={"title": "Short", "raw": "tiny", "category": 2,
                                                    "skip_validations": True})
    assert skipped.status_code == 200  # staff may skip validations on create
    reply = sb.forum.posts[2]
    assert call(sb, "DELETE", f"/posts/{reply.id}.json").status_code == 200
    assert call(sb, "GET", f"/posts/{reply.id}.json", username="alice").status_code == 404
    assert call(sb, "GET", f"/posts/{reply.id}.json").json()["deleted_at"]  # staff still see it
    assert reply.id not in call(sb, "GET", f"/t/{reply.topic_id}.json").json()["post_stream"]["stream"]


def test_control_endpoint_acts_as_a_user_and_reads_the_log(discourse_sandbox):
    sb = discourse_sandbox
    sb.clear_log()
    r = requests.post(sb.base_url + "/__sandbox__/act", timeout=TIMEOUT,
                      json={"op": "reply", "as": "bob", "topic_id": 1, "raw": "Bob says hi from Discourse."})
    assert r.status_code == 200 and r.json()["result"]["username"] == "bob"
    call(sb, "GET", "/t/1.json")
    log = requests.get(sb.base_url + "/__sandbox__/log", timeout=TIMEOUT).json()["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/t/1.json", 200)]  # control calls unlogged
