"""A course linked to a sandbox Canvas and a sandbox Discourse, with a merged thread, for the web tests.

Both sides are real HTTP servers on 127.0.0.1; the test drains the hub's queue itself
(the app's executor is replaced by a recorder, so no background worker races it).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.extensions import db
from app.models import Course, SyncOperation
from app.sync import queue
from app.sync.connectors.base import ConnectorRegistry
from app.sync.connectors.canvas import create_canvas_connector
from app.sync.connectors.discourse import DiscourseConnector
from app.sync.hub import HUB_DELIVERY, Hub
from tests.fixtures.discourse import discourse_api
from tests.helpers import make_canvas_user
from tests.sync.hub_env import HubDriver
from tests.fixtures.executors import RecordingExecutor

WEBHOOK_SECRET = "test-webhook-secret-3b9c"
PASSWORD = "password-123"  # tests.helpers.make_canvas_user's
FAST = queue.RetryPolicy(max_attempts=3, backoff_base_s=0.0, backoff_max_s=0.0, lease_s=60)
CATEGORY = 2  # sandbox Discourse's "Course 1 discussions"


def discourse_factory(sb):
    """The registry's factory for a sandbox Discourse; secret and watched categories from the app's settings."""

    def factory(credentials, http_session=None, settings=None):
        settings = settings or {}
        return DiscourseConnector(discourse_api(sb), settings.get("DISCOURSE_WEBHOOK_SECRET"),
                                  settings.get("course_ids") or ())

    return factory


@dataclass
class HubEnv(HubDriver):
    canvas: object
    discourse: object
    executor: RecordingExecutor
    user_id: int
    email: str
    course_id: int
    canvas_course: int

    policy = FAST  # the web tests give a failing delivery 3 attempts

    def deliveries(self, **where) -> list[SyncOperation]:
        ops = db.session.query(SyncOperation).filter_by(kind=HUB_DELIVERY, **where).order_by(SyncOperation.id)
        return list(ops)


def configure_hub(app, monkeypatch, discourse_sb) -> RecordingExecutor:
    registry = ConnectorRegistry()
    registry.register("canvas", create_canvas_connector)
    registry.register("discourse", discourse_factory(discourse_sb))
    executor = RecordingExecutor()
    monkeypatch.setitem(app.extensions, "hub_registry", registry)
    monkeypatch.setitem(app.extensions, "sync_executor", executor)
    monkeypatch.setitem(app.config, "HUB_SYSTEMS", "canvas,discourse")
    monkeypatch.setitem(app.config, "CANVAS_BACKOFF_FACTOR", 0.01)
    monkeypatch.setitem(app.config, "CANVAS_MAX_RETRIES", 1)
    monkeypatch.setitem(app.config, "DISCOURSE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    return executor


@pytest.fixture
def hub_env(app, make_canvas_sandbox, make_discourse_sandbox, monkeypatch) -> HubEnv:
    """A teacher's course linked to Discourse category 2, not yet synced (no topics locally)."""
    cv = make_canvas_sandbox(courses=1, assignments=1, students=1, topics_per_course=0)
    ds = make_discourse_sandbox(categories=1, topics_per_category=1, replies_per_topic=1)
    executor = configure_hub(app, monkeypatch, ds)
    user = make_canvas_user(cv, email="teacher@example.edu")
    [canvas_course] = cv.data.enrolled
    course = Course(user_id=user.id, canvas_course_id=canvas_course, name="Biology")
    db.session.add(course)
    db.session.commit()
    hub = Hub.from_app(db.session)
    hub.link_course(course.id, CATEGORY, user_id=user.id)
    hub.close()
    return HubEnv(cv, ds, executor, user.id, user.email, course.id, canvas_course)


def synced_thread(env: HubEnv) -> None:
    """Topics on both sides, a reply on each, everything delivered both ways."""
    topic = env.canvas.create_topic(env.canvas_course, "Osmosis lab questions", "<p>Ask about the lab here.</p>")
    env.canvas.create_entry(topic["id"], "<p>Do we need goggles?</p>")
    env.sync()
