"""The Canvas connector against the sandbox Canvas: pull shapes, writes, conflicts, Live Event JWTs."""
from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import urlsplit
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Course, DiscussionTopic, HubWebhookEvent
from app.services.canvas_api_service import CanvasAPIService, CanvasUnavailable
from app.services.canvas_discussions import CanvasDiscussions
from app.sync.connectors.base import Change, ConnectorRegistry, WebhookRejected
from app.sync.connectors.canvas import CanvasConnector, create_canvas_connector, marker, split_marker
from app.sync.errors import ConflictError
from app.sync.hub import Hub
from app.sync.hub.ingest import Ingest
from tests.helpers import make_canvas_user
from tests.sync.live_events import keys, sign_event  # noqa: F401 (fixture)


def _connector(sb, **kwargs) -> CanvasConnector:
    api = CanvasAPIService(sb.base_url, sb.token, backoff_factor=0.01, timeout=5)
    return CanvasConnector(CanvasDiscussions(api), course_ids=sorted(sb.data.enrolled), **kwargs)


@pytest.fixture
def sb(make_canvas_sandbox):
    return make_canvas_sandbox(courses=2, assignments=1, students=4, topics_per_course=2)


def test_pull_yields_topics_then_their_entries_in_the_contract_shape(sb):
    course = min(sb.data.enrolled)
    topic = sb.create_topic(course, "Ours", "<p>Made by the hub</p>" + marker("cf-discussion_topic-9"))
    entry = sb.create_entry(topic["id"], "<p>A reply</p>")
    gone = sb.create_entry(topic["id"], "<p>Removed</p>")
    sb.delete_entry(gone["id"])
    changes = list(_connector(sb).pull(None))
    ours = [c for c in changes if c.external_id == str(topic["id"])]
    assert len(ours) == 1 and ours[0].entity_type == "discussion_topic"
    assert ours[0].parent_external_id == str(course)
    assert ours[0].data["body_html"] == "<p>Made by the hub</p>" and ours[0].data["hub_ref"] == "cf-discussion_topic-9"
    assert ours[0].data["title"] == "Ours" and ours[0].data["deleted"] is False
    replies = {c.external_id: c for c in changes if c.parent_external_id == str(topic["id"])}
    assert replies[f"{topic['id']}:{entry['id']}"].data["body_html"] == "<p>A reply</p>"
    assert replies[f"{topic['id']}:{entry['id']}"].data["version"] == entry["updated_at"]
    assert replies[f"{topic['id']}:{gone['id']}"].action == Change.DELETE
    # Every topic comes before any entry of its course.
    kinds = [c.entity_type for c in changes if c.parent_external_id in {str(course)} | {
        str(t["id"]) for t in sb.data.course_topics(course)}]
    assert kinds == sorted(kinds, key=lambda k: k != "discussion_topic")
    expected_topics = sum(len(sb.data.course_topics(c)) for c in sb.data.enrolled)
    assert sum(c.entity_type == "discussion_topic" for c in changes) == expected_topics


def test_pull_since_skips_entries_unchanged_since_but_always_lists_topics(sb):
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    changes = list(_connector(sb, since_overlap_s=0).pull(later))
    assert {c.entity_type for c in changes} == {"discussion_topic", "snapshot_complete"}
    markers = [c for c in changes if c.entity_type == "snapshot_complete"]
    assert sorted(m.external_id for m in markers) == sorted(str(c) for c in sb.data.enrolled)
    assert sorted(markers[0].data["external_ids"]) == sorted(
        str(t["id"]) for t in sb.data.course_topics(int(markers[0].external_id)))


def test_create_is_idempotent_by_the_hub_marker(sb):
    course = min(sb.data.enrolled)
    connector = _connector(sb)
    change = Change(origin="discourse", entity_type="discussion_topic", external_id="", parent_external_id=str(course),
                    data={"hub_ref": "cf-discussion_topic-4", "title": "From Discourse", "body_html": "<p>Hi</p>"})
    first = connector.apply(change)
    second = connector.apply(change)  # a retry that never learnt the first worked
    assert first.external_id == second.external_id
    assert first.data["body_html"] == "<p>Hi</p>"
    assert [e.method for e in sb.writes()] == ["POST", "PUT"]
    post = Change(origin="local", entity_type="discussion_post", external_id="", parent_external_id=first.external_id,
                  data={"hub_ref": "cf-discussion_post-5", "body_html": "<p>Reply</p>"})
    applied = connector.apply(post)  # no container given: the connector finds the topic's course
    assert applied.external_id.startswith(f"{first.external_id}:")
    assert split_marker(sb.data.entries[int(applied.external_id.split(":")[1])]["message"]) == (
        "<p>Reply</p>", "cf-discussion_post-5")


def test_edit_of_something_changed_in_canvas_meanwhile_is_a_conflict(sb):
    course = min(sb.data.enrolled)
    topic = sb.create_topic(course, "T", "<p>v1</p>")
    entry = sb.create_entry(topic["id"], "<p>e1</p>")
    connector = _connector(sb)
    sb.update_entry(entry["id"], "<p>e1 edited in Canvas</p>")
    edit = Change(origin="discourse", entity_type="discussion_post", external_id=f"{topic['id']}:{entry['id']}",
                  parent_external_id=str(topic["id"]),
                  data={"body_html": "<p>e2</p>", "previous_body": "<p>e1</p>", "container_external_id": str(course)})
    with pytest.raises(ConflictError) as caught:
        connector.apply(edit)
    assert caught.value.current == "<p>e1 edited in Canvas</p>"
    assert sb.writes() == []
    fresh = replace(edit, data={**edit.data, "previous_body": "<p>e1 edited in Canvas</p>"})
    assert connector.apply(fresh).data["body_html"] == "<p>e2</p>"
    topic_edit = Change(origin="local", entity_type="discussion_topic", external_id=str(topic["id"]),
                        parent_external_id=str(course),
                        data={"title": "T2", "body_html": "<p>v2</p>", "previous_body": "<p>v1</p>",
                              "previous_title": "T (renamed)"})
    with pytest.raises(ConflictError):
        connector.apply(topic_edit)  # the title differs from the one last synced


def test_a_write_whose_answer_is_cut_off_is_not_sent_twice(sb):
    course = min(sb.data.enrolled)
    sb.set_faults(1.0, seed=1, kinds=["truncated"])
    api = CanvasDiscussions(CanvasAPIService(sb.base_url, sb.token, backoff_factor=0.01, timeout=5))
    with pytest.raises(CanvasUnavailable, match="cut off"):
        api.create_topic(course, "Once", "<p>only once</p>")
    sb.set_faults(0.0)
    assert [e.method for e in sb.writes()] == ["POST"]
    assert [t["title"] for t in sb.data.course_topics(course)].count("Once") == 1


# -- Live Events ---------------------------------------------------------------------------

def _event(name: str, body: dict, **metadata) -> dict:
    return {"metadata": {"event_name": name, "event_time": "2026-12-01T10:00:00.000Z", "context_type": "Course",
                         **metadata}, "body": body}


TOPIC_EVENT = _event("discussion_topic_created", {
    "discussion_topic_id": "21070000000066871", "context_id": "21070000000000101", "context_type": "Course",
    "title": "Pushed topic", "body": "<p>Pushed</p>", "updated_at": "2026-12-01T10:00:00.218Z",
    "workflow_state": "active"})


def test_a_signed_live_event_becomes_a_change_with_local_ids(keys):
    connector = CanvasConnector(None, jwks=json.dumps(keys["jwks"]))
    [change] = connector.parse_webhook({}, sign_event(TOPIC_EVENT, keys["good"]))
    assert (change.entity_type, change.external_id, change.parent_external_id) == (
        "discussion_topic", "66871", "101")
    assert change.data["title"] == "Pushed topic" and change.event_id
    entry = _event("discussion_entry_created", {"discussion_entry_id": "2134567", "discussion_topic_id": "66871",
                                                "text": "<p>hi</p>", "created_at": "2026-12-01T10:00:00Z"})
    [reply] = connector.parse_webhook({}, sign_event(entry, keys["good"]))
    assert (reply.external_id, reply.parent_external_id, reply.data["body_html"]) == ("66871:2134567", "66871",
                                                                                      "<p>hi</p>")
    assert connector.parse_webhook({}, sign_event(_event("grade_change", {}), keys["good"])) == []
    cut = {**TOPIC_EVENT, "body": {**TOPIC_EVENT["body"], "body": "x" * 8192}}  # truncated by Canvas: left to polling
    assert connector.parse_webhook({}, sign_event(cut, keys["good"])) == []


@pytest.mark.parametrize("token", [
    lambda k: sign_event(TOPIC_EVENT, k["other"]),  # right kid, wrong key: the signature does not verify
    lambda k: sign_event(TOPIC_EVENT, k["good"], kid="unknown"),
    lambda k: jwt.encode(TOPIC_EVENT, None, algorithm="none", headers={"kid": "instructure-1"}).encode(),
    lambda k: jwt.encode(TOPIC_EVENT, "a-shared-secret-that-is-long-enough!!", algorithm="HS256",
                         headers={"kid": "instructure-1"}).encode(),
    lambda k: b"not a jwt",
])
def test_unverifiable_events_are_rejected_with_401(keys, token):
    connector = CanvasConnector(None, jwks=keys["jwks"])
    with pytest.raises(WebhookRejected) as caught:
        connector.parse_webhook({}, token(keys))
    assert caught.value.status == 401


def _hub_taking_pushes(app, make_canvas_sandbox, keys, monkeypatch) -> tuple[Hub, str]:
    """A hub whose Canvas connector trusts ``keys``' JWKS, Canvas course 101 linked (to Canvas alone)."""
    sb = make_canvas_sandbox(courses=1, assignments=1, students=1, topics_per_course=0)
    registry = ConnectorRegistry()
    registry.register("canvas", create_canvas_connector)
    monkeypatch.setitem(app.extensions, "hub_registry", registry)
    monkeypatch.setitem(app.config, "CANVAS_LIVE_EVENTS_JWKS", json.dumps(keys["jwks"]))
    user = make_canvas_user(sb, email="t@example.com")
    course = Course(user_id=user.id, canvas_course_id=101, name="Biology")
    db.session.add(course)
    db.session.commit()
    hub = Hub.from_app(db.session)
    hub.link_containers(course.id, {})
    return hub, urlsplit(sb.base_url).netloc  # the instance the course's Live Events name


def test_hub_applies_a_pushed_event_once_and_ignores_its_replay(app, make_canvas_sandbox, keys, monkeypatch):
    hub, instance = _hub_taking_pushes(app, make_canvas_sandbox, keys, monkeypatch)
    token = sign_event(TOPIC_EVENT, keys["good"], hostname=instance)
    assert hub.receive_webhook("canvas", {}, token) == {"created": 1}
    assert hub.receive_webhook("canvas", {}, token) == {"replayed": 1}
    with pytest.raises(WebhookRejected):
        hub.receive_webhook("canvas", {}, sign_event({**TOPIC_EVENT, "body": {**TOPIC_EVENT["body"], "title": "X"}},
                                                keys["other"]))
    assert db.session.scalars(select(DiscussionTopic.title)).all() == ["Pushed topic"]
    assert db.session.scalar(select(func.count()).select_from(HubWebhookEvent)) == 2  # its id and its body hash


def test_replies_at_any_depth_come_as_posts_of_the_topic(sb):
    course = min(sb.data.enrolled)
    topic = sb.create_topic(course, "Threaded", "<p>t</p>")
    root = sb.create_entry(topic["id"], "<p>root</p>")
    child = sb.create_entry(topic["id"], "<p>child</p>", parent_id=root["id"])
    grandchild = sb.create_entry(topic["id"], "<p>grandchild</p>", parent_id=child["id"])
    busy = sb.create_entry(topic["id"], "<p>busy</p>")
    many = [sb.create_entry(topic["id"], f"<p>r{n}</p>", parent_id=busy["id"]) for n in range(12)]
    deep = sb.create_entry(topic["id"], "<p>deep</p>", parent_id=many[0]["id"])
    posts = {c.external_id: c for c in _connector(sb).pull(None) if c.parent_external_id == str(topic["id"])}
    expected = [root, child, grandchild, busy, *many, deep]
    assert set(posts) == {f"{topic['id']}:{e['id']}" for e in expected}
    assert posts[f"{topic['id']}:{grandchild['id']}"].data["body_html"] == "<p>grandchild</p>"
    # One list of root entries plus the reply pages the busy thread needed (it has more than 10).
    walked = {int(e.path.split("/entries/")[1].split("/")[0]) for e in sb.request_log
              if e.method == "GET" and e.path.endswith("/replies")}
    assert busy["id"] in walked and walked <= {busy["id"], deep["id"], *(m["id"] for m in many)}


def test_a_push_whose_ingest_fails_can_be_sent_again(app, make_canvas_sandbox, keys, monkeypatch):
    """The event id is recorded in the ingest's own transaction: a failure does not mark it as seen."""
    _, instance = _hub_taking_pushes(app, make_canvas_sandbox, keys, monkeypatch)
    token = sign_event(TOPIC_EVENT, keys["good"], hostname=instance)
    original = Ingest._create_from

    def broken(self, *args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Ingest, "_create_from", broken)
    with pytest.raises(RuntimeError):
        Hub.from_app(db.session).receive_webhook("canvas", {}, token)
    assert db.session.scalar(select(func.count()).select_from(HubWebhookEvent)) == 0
    monkeypatch.setattr(Ingest, "_create_from", original)
    assert Hub.from_app(db.session).receive_webhook("canvas", {}, token) == {"created": 1}
