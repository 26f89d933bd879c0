"""The hub keys a Canvas course, topic and entry by its instance as well as its id.

Two sandbox Canvases built from the same seed hand out the same ids: course 101 and topic
66871 exist in both. A user whose own Canvas is the second one must neither capture nor
block the first one's course: not its link, not its pulls, not its Live Events.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Course, DiscussionTopic, HubCourseLink, HubEntityMap
from app.sync.connectors.base import ConnectorRegistry
from app.sync.connectors.canvas import canvas_instance, create_canvas_connector, marker
from app.sync.hub import Hub
from app.sync.hub.entities import hub_ref
from tests.helpers import make_canvas_user
from tests.sync.live_events import keys, sign_event  # noqa: F401 (fixture)

SIDE = {"courses": 1, "assignments": 1, "students": 1, "topics_per_course": 0}


def topic_event(name: str, instance: str, course_id: int, topic_id: int, title: str) -> dict:
    return {"metadata": {"event_name": name, "context_type": "Course", "context_id": str(course_id),
                         "hostname": instance},
            "body": {"discussion_topic_id": str(topic_id), "context_id": str(course_id), "context_type": "Course",
                     "title": title, "body": f"<p>{title}</p>", "updated_at": "2026-12-01T10:00:00.218Z",
                     "workflow_state": "active"}}


def titles(course: Course) -> list[str]:
    return sorted(db.session.scalars(select(DiscussionTopic.title).where(DiscussionTopic.course_id == course.id)))


@pytest.fixture
def two_canvases(app, make_canvas_sandbox, keys, monkeypatch):
    real, fake = make_canvas_sandbox(**SIDE), make_canvas_sandbox(**SIDE)
    [course_id] = real.data.enrolled
    assert fake.data.enrolled == {course_id}  # the same bare course id in both
    registry = ConnectorRegistry()
    registry.register("canvas", create_canvas_connector)
    monkeypatch.setitem(app.extensions, "hub_registry", registry)
    monkeypatch.setitem(app.config, "HUB_SYSTEMS", "canvas")
    monkeypatch.setitem(app.config, "CANVAS_BACKOFF_FACTOR", 0.01)
    monkeypatch.setitem(app.config, "CANVAS_LIVE_EVENTS_JWKS", json.dumps(keys["jwks"]))
    teacher = make_canvas_user(real, email="teacher@example.com")
    intruder = make_canvas_user(fake, email="intruder@example.com")
    rightful = Course(user_id=teacher.id, canvas_course_id=course_id, name="The real course")
    captor = Course(user_id=intruder.id, canvas_course_id=course_id, name="Course of my own Canvas")
    db.session.add_all([rightful, captor])
    db.session.commit()
    hub = Hub.from_app(db.session)
    yield real, fake, course_id, teacher, intruder, rightful, captor, hub
    hub.close()


def test_another_instance_with_the_same_course_id_neither_blocks_nor_captures(two_canvases, keys):
    real, fake, course_id, teacher, intruder, rightful, captor, hub = two_canvases

    # Link: the intruder links first; the real course still links (no "already linked").
    hub.link_containers(captor.id, {}, user_id=intruder.id)
    hub.link_containers(rightful.id, {}, user_id=teacher.id)
    links = {link.course_id: link.instance for link in db.session.scalars(select(HubCourseLink))}
    assert links == {rightful.id: canvas_instance(real.base_url), captor.id: canvas_instance(fake.base_url)}

    # Pull: the same topic id in both Canvases is two topics, each in its own course.
    real_topic = real.create_topic(course_id, "Photosynthesis", "<p>The real class's question</p>")["id"]
    fake_topic = fake.create_topic(course_id, "Captured?", "<p>Planted by the intruder</p>")["id"]
    assert real_topic == fake_topic
    assert hub.pull("canvas", user_id=intruder.id) == {"created": 1}
    assert hub.pull("canvas", user_id=teacher.id) == {"created": 1}
    assert titles(rightful) == ["Photosynthesis"]
    assert titles(captor) == ["Captured?"]
    mapped = db.session.execute(select(HubEntityMap.instance, HubEntityMap.external_id)).all()
    assert sorted(mapped) == sorted([(canvas_instance(real.base_url), str(real_topic)),
                                     (canvas_instance(fake.base_url), str(real_topic))])

    # Live Events: each lands in the course of the instance its signed claims name, and only there.
    real_host, fake_host = urlsplit(real.base_url).netloc, urlsplit(fake.base_url).netloc
    edit = topic_event("discussion_topic_updated", real_host, course_id, real_topic, "Photosynthesis, edited")
    assert hub.receive_webhook("canvas", {}, sign_event(edit, keys["good"])) == {"updated": 1}
    new = topic_event("discussion_topic_created", real_host, course_id, real_topic + 1, "Respiration")
    assert hub.receive_webhook("canvas", {}, sign_event(new, keys["good"])) == {"created": 1}
    assert titles(rightful) == ["Photosynthesis, edited", "Respiration"]
    assert titles(captor) == ["Captured?"]
    planted = topic_event("discussion_topic_updated", fake_host, course_id, real_topic, "Overwritten")
    assert hub.receive_webhook("canvas", {}, sign_event(planted, keys["good"])) == {"updated": 1}
    assert titles(rightful) == ["Photosynthesis, edited", "Respiration"]
    assert titles(captor) == ["Overwritten"]
    unknown = topic_event("discussion_topic_updated", "evil.example", course_id, real_topic, "Nobody's")
    assert hub.receive_webhook("canvas", {}, sign_event(unknown, keys["good"])) == {"foreign": 1}

    # A pull of the intruder's Canvas after all that still touches only the intruder's course.
    fake.create_topic(course_id, "Second plant", "<p>Another</p>")
    hub.pull("canvas", user_id=intruder.id)
    assert titles(rightful) == ["Photosynthesis, edited", "Respiration"]


def test_an_account_moved_to_another_instance_no_longer_pulls_or_delivers_the_old_links(two_canvases):
    real, fake, course_id, teacher, intruder, rightful, captor, hub = two_canvases
    hub.link_containers(rightful.id, {}, user_id=teacher.id)
    real.create_topic(course_id, "Photosynthesis", "<p>Real</p>")
    assert hub.pull("canvas", user_id=teacher.id) == {"created": 1}
    # The teacher's account now points at another Canvas: course 101 there is someone else's.
    teacher.canvas_base_url = fake.base_url
    db.session.commit()
    fake.create_topic(course_id, "Not the real class", "<p>Fake</p>")
    hub.close()
    moved = Hub.from_app(db.session)
    assert moved.pull("canvas", user_id=teacher.id) == {}
    assert titles(rightful) == ["Photosynthesis"]
    topic = moved.create_topic(rightful.id, "Local only", "<p>Stays here</p>")
    assert moved.deliver("discussion_topic", topic.id, "canvas") == {
        "skipped": "the course is linked in another canvas instance than its owner's"}
    assert [t["title"] for t in fake.data.course_topics(course_id)] == ["Not the real class"]
    moved.close()


@pytest.mark.parametrize("base_url, key", [
    ("https://School.Instructure.com/", "school.instructure.com"),
    ("https://school.instructure.com:443", "school.instructure.com"),
    ("http://127.0.0.1:8765", "127.0.0.1:8765"),
    ("127.0.0.1:8765", "127.0.0.1:8765"),
    ("https://[::1]:9443/", "[::1]:9443"),
    (None, ""),
])
def test_a_canvas_instance_is_its_host_and_port(base_url, key):
    assert canvas_instance(base_url) == key


def test_a_marker_copied_into_another_instance_does_not_claim_the_hubs_topic(two_canvases):
    real, fake, course_id, teacher, intruder, rightful, captor, hub = two_canvases
    hub.link_containers(rightful.id, {}, user_id=teacher.id)
    hub.link_containers(captor.id, {}, user_id=intruder.id)
    topic = hub.create_topic(rightful.id, "Exam dates", "<p>Only for the real class</p>")  # not delivered yet
    # The intruder's Canvas reports a topic carrying that topic's reference, as if a delivery had made it.
    fake.create_topic(course_id, "Bait", marker(hub_ref("discussion_topic", topic.id)) + "<p>Send it here</p>")
    assert hub.pull("canvas", user_id=intruder.id) == {"created": 1}
    assert titles(captor) == ["Bait"]
    assert titles(rightful) == ["Exam dates"]
    delivered = hub.deliver("discussion_topic", topic.id, "canvas")
    assert [t["id"] for t in real.data.course_topics(course_id)] == [int(delivered["delivered"])]
    assert [t["title"] for t in fake.data.course_topics(course_id)] == ["Bait"]
