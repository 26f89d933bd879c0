"""A Live Event lands only in a course of the Canvas instance its signed claims name.

Course ids are unique within one Canvas only: a user whose own (fake) Canvas reports
course 101 must not capture the Live Events of the real Canvas's course 101.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from sqlalchemy import func, select

from app.extensions import db
from app.models import Course, DiscussionTopic
from app.sync.connectors.base import ConnectorRegistry
from app.sync.connectors.canvas import create_canvas_connector, same_canvas_instance
from app.sync.hub import Hub
from tests.helpers import make_canvas_user
from tests.sync.live_events import keys, sign_event  # noqa: F401 (fixture)

EVENT = {"metadata": {"event_name": "discussion_topic_created", "context_type": "Course", "context_id": "101"},
         "body": {"discussion_topic_id": "66871", "context_id": "101", "context_type": "Course",
                  "title": "The real class's topic", "body": "<p>Only for course 101's own Canvas</p>",
                  "updated_at": "2026-12-01T10:00:00.218Z", "workflow_state": "active"}}


def with_instance(instance: str | None) -> dict:
    return {**EVENT, "metadata": {**EVENT["metadata"], **({"hostname": instance} if instance else {})}}


def test_a_course_id_from_another_instance_does_not_capture_a_live_event(app, make_canvas_sandbox, keys,
                                                                         monkeypatch):
    real = make_canvas_sandbox(courses=1, assignments=1, students=1, topics_per_course=0)
    fake = make_canvas_sandbox(courses=1, assignments=1, students=1, topics_per_course=0)
    registry = ConnectorRegistry()
    registry.register("canvas", create_canvas_connector)
    monkeypatch.setitem(app.extensions, "hub_registry", registry)
    monkeypatch.setitem(app.config, "CANVAS_LIVE_EVENTS_JWKS", json.dumps(keys["jwks"]))
    intruder = make_canvas_user(fake, email="intruder@example.com")
    captured = Course(user_id=intruder.id, canvas_course_id=101, name="Course 101 of my own Canvas")
    db.session.add(captured)
    db.session.commit()
    hub = Hub.from_app(db.session)
    hub.link_containers(captured.id, {})  # Canvas alone: this installation has no Discourse

    real_instance, fake_instance = urlsplit(real.base_url).netloc, urlsplit(fake.base_url).netloc
    assert hub.receive_webhook("canvas", {}, sign_event(with_instance(real_instance), keys["good"])) == {"foreign": 1}
    assert hub.receive_webhook("canvas", {}, sign_event(with_instance(None), keys["good"])) == {"foreign": 1}
    assert db.session.scalar(select(func.count()).select_from(DiscussionTopic)) == 0
    # The same event named for the course's own instance is applied: the instance is what decides.
    assert hub.receive_webhook("canvas", {}, sign_event(with_instance(fake_instance), keys["good"])) == {"created": 1}
    # And once the topic exists, a real-instance event about the same bare topic id still cannot touch it.
    edit = with_instance(real_instance)
    edit = {**edit, "metadata": {**edit["metadata"], "event_name": "discussion_topic_updated"},
            "body": {**edit["body"], "title": "Overwritten"}}
    assert hub.receive_webhook("canvas", {}, sign_event(edit, keys["good"])) == {"foreign": 1}
    assert db.session.scalars(select(DiscussionTopic.title)).all() == ["The real class's topic"]
    hub.close()


def test_instances_compare_by_host_and_port():
    assert same_canvas_instance("school.instructure.com", "https://school.instructure.com")
    assert same_canvas_instance("127.0.0.1:8765", "http://127.0.0.1:8765")
    assert same_canvas_instance("School.Instructure.com", "https://school.instructure.com/")
    assert not same_canvas_instance("evil.example", "https://school.instructure.com")
    assert not same_canvas_instance(None, "https://school.instructure.com")
    assert not same_canvas_instance("school.instructure.com", None)
