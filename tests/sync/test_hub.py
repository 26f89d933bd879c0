"""The hub over real HTTP: two sandbox Canvas servers, on every database backend.

The second side is a second sandbox Canvas behind a Canvas connector registered under the
name "discourse" (so the strategies that name Discourse have a side to prefer); the same
behaviour with the real Discourse connector and sandbox Discourse is in test_hub_discourse.py
(shared environment and test bodies: tests/sync/hub_env.py). Writes are checked in each sandbox's request log:
nothing the hub learnt from a side is ever written back to it.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models.types import utcnow
from app.models import DiscussionPost, DiscussionTopic, HubConflict, HubEntityMap, HubTransaction, SyncOperation
from app.models import Course
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_discussions import CanvasDiscussions
from app.sync import queue
from app.sync.connectors.base import ConnectorRegistry
from app.sync.connectors.canvas import CanvasConnector, create_canvas_connector, marker, split_marker
from app.sync.hub import HUB_DELIVERY, HUB_PULL
from app.sync.jobs.hub_pull import queue_due_pulls
from tests.sync.hub_env import (FAST, SIDE, STRATEGY_CASES, WRITERS_ORDER_CASES, CanvasSide, check_strategy,
                               check_writers_order, make_env, run_chaos)
from tests.sync.hub_env import config as env_app
from tests.sync.hub_env import current_topic as _topic
from tests.sync.hub_env import mapped as _mapped
from tests.fixtures.executors import RecordingExecutor


class SecondCanvas(CanvasConnector):
    """A second Canvas standing in for Discourse."""

    name = "discourse"


@pytest.fixture
def env(app, make_canvas_sandbox, monkeypatch):
    a = make_canvas_sandbox(**SIDE)
    b = make_canvas_sandbox(**SIDE, seed=2)

    def second(credentials, http_session=None, settings=None):
        api = CanvasAPIService(b.base_url, b.token, max_retries=int(settings.get("CANVAS_MAX_RETRIES", 5)),
                               backoff_factor=0.01, timeout=5)
        return SecondCanvas(CanvasDiscussions(api), course_ids=settings["course_ids"])

    registry = ConnectorRegistry()
    registry.register("canvas", create_canvas_connector)
    registry.register("discourse", second)
    monkeypatch.setitem(app.extensions, "hub_registry", registry)
    # The test drains the queue itself: no background worker may race it.
    monkeypatch.setitem(app.extensions, "sync_executor", RecordingExecutor())
    monkeypatch.setitem(app.config, "HUB_SYSTEMS", "canvas,discourse")
    monkeypatch.setitem(app.config, "CANVAS_BACKOFF_FACTOR", 0.01)
    [b_course] = b.data.enrolled
    return make_env(a, CanvasSide(b, b_course))


def _writes(sandbox) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in sandbox.writes()]


def test_topic_from_canvas_reaches_the_other_side_once_and_never_echoes(env):
    env.canvas.create_topic(env.canvas_course, "Cell walls", "<p>What holds a plant up?</p>")
    assert env.pull("canvas") == {"created": 1}
    [waiting] = env.hub().course_thread(env.course_id)
    assert waiting.reached == {"canvas": "synced", "discourse": "pending"}
    assert env.drain() == 1
    [copy] = env.topics(env.other, env.other_course)
    assert copy["title"] == "Cell walls"
    assert split_marker(copy["message"]) == ("<p>What holds a plant up?</p>", f"cf-discussion_topic-{_topic().id}")
    assert _writes(env.other) == [("POST", f"/api/v1/courses/{env.other_course}/discussion_topics")]
    # The other side reports it back: recognised as our own write, nothing queued, nothing written.
    assert env.pull("discourse") == {"unchanged": 1}
    env.sync()
    env.sync()
    assert _writes(env.canvas) == []
    assert len(_writes(env.other)) == 1
    assert db.session.scalar(select(func.count()).select_from(DiscussionTopic)) == 1
    thread = env.hub().course_thread(env.course_id)
    assert [(t.title, t.origin_system, t.reached) for t in thread] == [
        ("Cell walls", "canvas", {"canvas": "synced", "discourse": "synced"})]


def test_reply_on_the_other_side_reaches_canvas_and_edits_follow(env):
    topic = env.canvas.create_topic(env.canvas_course, "Osmosis", "<p>Explain osmosis.</p>")
    env.sync()
    [copy] = env.topics(env.other, env.other_course)
    reply = env.other.create_entry(copy["id"], "<p>Water moves to the salt.</p>")
    assert env.pull("discourse") == {"unchanged": 1, "created": 1}
    env.drain()
    [entry] = env.entries(env.canvas, topic["id"])
    assert split_marker(entry["message"])[0] == "<p>Water moves to the salt.</p>"
    # Edits: the topic in Canvas, the reply on the other side.
    env.canvas.update_topic(topic["id"], message="<p>Explain osmosis in two lines.</p>")
    env.other.update_entry(reply["id"], "<p>Water moves towards more salt.</p>")
    env.sync()
    assert split_marker(env.topics(env.other, env.other_course)[0]["message"])[0] == (
        "<p>Explain osmosis in two lines.</p>")
    assert split_marker(env.entries(env.canvas, topic["id"])[0]["message"])[0] == (
        "<p>Water moves towards more salt.</p>")
    env.sync()
    # Canvas got the reply and its edit; the other side got the topic and its edit: nothing else.
    a_entries = f"/api/v1/courses/{env.canvas_course}/discussion_topics/{topic['id']}/entries"
    assert _writes(env.canvas) == [("POST", a_entries), ("PUT", f"{a_entries}/{entry['id']}")]
    b_topic = f"/api/v1/courses/{env.other_course}/discussion_topics"
    assert _writes(env.other) == [("POST", b_topic), ("PUT", f"{b_topic}/{copy['id']}")]
    post = db.session.scalars(select(DiscussionPost)).one()
    assert (post.body_html, post.origin_system) == ("<p>Water moves towards more salt.</p>", "discourse")


def test_local_reply_goes_to_every_side_and_untrusted_html_is_cleaned(env):
    made = env.canvas.create_topic(env.canvas_course, "Enzymes", "<p>Name one.</p>")
    # Canvas sanitizes on save; content from before (or from a bug) may not be: the hub cleans what it takes in.
    made["message"] = '<p>Name one.</p><script>steal()</script><img src="x" onerror="alert(1)">'
    env.sync()
    topic = _topic()
    assert topic.body_html == '<p>Name one.</p><img src="x">'
    assert "onerror" not in split_marker(env.topics(env.other, env.other_course)[0]["message"])[0]
    post = env.hub().post_reply(topic.id, '<p onclick="x()">Amylase <a href="javascript:alert(1)">link</a></p>',
                                author_name="Ms. Frizzle")
    assert post.body_html.startswith("<p>Amylase <a rel=")
    queued = db.session.scalars(select(SyncOperation.target_system).where(SyncOperation.kind == HUB_DELIVERY,
                                                                       SyncOperation.entity_type == "discussion_post"))
    assert sorted(queued) == ["canvas", "discourse"]
    env.drain()
    [copy] = env.topics(env.other, env.other_course)
    for sandbox, topic_id in ((env.canvas, _mapped("canvas", "discussion_topic", topic.id)), (env.other, copy["id"])):
        [entry] = env.entries(sandbox, int(topic_id))
        # Canvas's own sanitizer then drops the rel attribute: each side holds its rendering of the same post.
        assert split_marker(entry["message"]) == ("<p>Amylase <a>link</a></p>", f"cf-discussion_post-{post.id}")
    before = (len(_writes(env.canvas)), len(_writes(env.other)))
    env.sync()
    env.sync()
    assert (len(_writes(env.canvas)), len(_writes(env.other))) == before  # the renderings differ: still no loop
    actions = db.session.scalars(select(HubTransaction.action).order_by(HubTransaction.id)).all()
    assert {"link_course", "ingest", "deliver", "local_change"} <= set(actions)


@pytest.mark.parametrize("strategy, entity_type, expected", STRATEGY_CASES)
def test_concurrent_edits_on_both_sides_resolve_by_the_strategy_of_the_type(env, monkeypatch, strategy, entity_type,
                                                                             expected):
    check_strategy(env, monkeypatch, strategy, entity_type, expected)


@pytest.mark.parametrize("steps, winner", [case[1:] for case in WRITERS_ORDER_CASES],
                         ids=[case[0] for case in WRITERS_ORDER_CASES])
def test_most_recent_is_judged_on_the_writers_clocks_not_the_pull_order(env, monkeypatch, steps, winner):
    check_writers_order(env, monkeypatch, steps, winner)


def test_other_side_down_operations_wait_and_complete_when_it_is_back(env, monkeypatch):
    monkeypatch.setitem(env_app(), "CANVAS_MAX_RETRIES", 0)
    env.canvas.create_topic(env.canvas_course, "Photosynthesis", "<p>Light in, sugar out.</p>")
    port = env.other.port
    env.other.stop()
    env.pull("canvas")
    waiting = queue.RetryPolicy(max_attempts=6, backoff_base_s=60, backoff_max_s=60, lease_s=60)
    queue.process_available(db.session, "test-worker", kinds=[HUB_DELIVERY], policy=waiting)
    op = db.session.scalars(select(SyncOperation).where(SyncOperation.kind == HUB_DELIVERY)).one()
    assert (op.status, op.error_class) == ("pending", "transient") and op.attempts == 1
    assert "Could not reach" in op.error_message
    assert env.topics(env.other, env.other_course) == []
    env.other.port = port
    env.other.start()
    # The backoff has run out: the operation is due again.
    db.session.execute(SyncOperation.__table__.update().values(next_attempt_at=utcnow()))
    db.session.commit()
    env.drain()
    db.session.expire_all()
    assert db.session.get(SyncOperation, op.id).status == "completed"
    assert [t["title"] for t in env.topics(env.other, env.other_course)] == ["Photosynthesis"]


def test_a_retried_create_finds_the_first_copy_instead_of_writing_a_second(env):
    """The create went through but the hub never recorded it (a crash): the retry finds it by the hub's marker."""
    env.canvas.create_topic(env.canvas_course, "Mitosis", "<p>Phases?</p>")
    env.pull("canvas")
    env.drain()
    env.forget_deliveries("discourse")
    env.drain()
    [copy] = env.topics(env.other, env.other_course)
    assert copy["title"] == "Mitosis"
    assert [m for m, _ in _writes(env.other)] == ["POST", "PUT"]
    assert _mapped("discourse", "discussion_topic", _topic().id) == str(copy["id"])


def test_pulls_are_queued_on_schedule_per_connector_and_scope(env, app):
    env.canvas.create_topic(env.canvas_course, "Genetics", "<p>Punnett squares</p>")
    first = queue_due_pulls(app)
    assert len(first) == 2 and queue_due_pulls(app) == []  # not due again yet
    ops = db.session.scalars(select(SyncOperation).where(SyncOperation.id.in_(first))).all()
    assert sorted((o.source_system, o.user_id) for o in ops) == [("canvas", env.user_id), ("discourse", None)]
    env.drain()
    assert [t["title"] for t in env.topics(env.other, env.other_course)] == ["Genetics"]


@pytest.mark.parametrize("level", ["SERIALIZABLE", "READ UNCOMMITTED"])
def test_isolation_level_is_configurable(env, monkeypatch, backend, level):
    if backend == "sqlite" and level not in ("SERIALIZABLE", "READ UNCOMMITTED"):
        pytest.skip("SQLite knows two levels")
    monkeypatch.setitem(env_app(), "HUB_ISOLATION_LEVEL", level)
    hub = env.hub()
    with hub.atomic():
        assert db.session.connection().get_isolation_level() == level
    topic = hub.create_topic(env.course_id, "Ecology", "<p>Food webs</p>")
    assert db.session.get(DiscussionTopic, topic.id).title == "Ecology"


def test_an_edit_made_in_canvas_while_a_local_edit_travels_is_resolved(env, monkeypatch):
    """Canvas changed the entry after the hub's last look: its write is refused and the conflict resolved."""
    monkeypatch.setitem(env_app(), "HUB_CONFLICT_STRATEGY_BY_TYPE", "discussion_post=PreferCanvas")
    topic = env.canvas.create_topic(env.canvas_course, "Cells", "<p>Draw one.</p>")
    entry = env.canvas.create_entry(topic["id"], "<p>Here is mine</p>")
    env.sync()
    post = db.session.scalars(select(DiscussionPost)).one()
    env.hub().edit_post(post.id, "<p>Edited in Canvas Flow</p>")
    env.canvas.update_entry(entry["id"], "<p>Edited in Canvas</p>")  # not pulled yet
    env.drain()
    [conflict] = db.session.scalars(select(HubConflict)).all()
    assert (conflict.rule, conflict.winner, conflict.remote_system) == ("PreferCanvas", "canvas", "canvas")
    db.session.expire_all()
    assert db.session.get(DiscussionPost, post.id).body_html == "<p>Edited in Canvas</p>"
    [copy] = env.topics(env.other, env.other_course)
    assert [split_marker(e["message"])[0] for e in env.entries(env.other, copy["id"])] == ["<p>Edited in Canvas</p>"]
    assert not [w for w in _writes(env.canvas) if w[0] == "PUT"]  # Canvas kept its own edit: never overwritten


def test_a_reply_deleted_on_one_side_is_deleted_on_the_other(env):
    topic = env.canvas.create_topic(env.canvas_course, "Viruses", "<p>Alive?</p>")
    entry = env.canvas.create_entry(topic["id"], "<p>No.</p>")
    env.sync()
    [copy] = env.topics(env.other, env.other_course)
    assert len(env.entries(env.other, copy["id"])) == 1
    env.canvas.delete_entry(entry["id"])
    env.sync()
    assert env.entries(env.other, copy["id"]) == []
    assert db.session.scalars(select(DiscussionPost)).one().deleted_at is not None
    assert _writes(env.other)[-1][0] == "DELETE"


def test_a_topic_deleted_in_canvas_is_deleted_on_the_other_side(env):
    topic = env.canvas.create_topic(env.canvas_course, "Old news", "<p>Gone soon</p>")
    env.sync()
    assert len(env.topics(env.other, env.other_course)) == 1
    env.canvas.delete_topic(topic["id"])
    assert env.pull("canvas") == {"updated": 1}
    env.drain()
    assert env.topics(env.other, env.other_course) == []
    assert _topic().deleted_at is not None
    env.sync()
    assert [m for m, _ in _writes(env.other)] == ["POST", "DELETE"] and _writes(env.canvas) == []


def test_chaos_random_edits_on_both_sides_with_faults_end_equal(env, app, monkeypatch):
    """200 edits at random on both sides and locally, 10% faults on both servers: all three end equal."""
    run_chaos(env, app, monkeypatch, edits=200)


def test_bad_input_is_refused_in_plain_words_and_changes_nothing(env):
    hub = env.hub()
    other = Course(user_id=env.user_id, canvas_course_id=999, name="Chemistry")
    db.session.add(other)
    db.session.commit()
    with pytest.raises(ValueError, match="already linked to another course"):
        hub.link_course(other.id, env.other_course)
    topic = hub.create_topic(env.course_id, "Questions", "<p>Ask here</p>")
    with pytest.raises(ValueError, match="Write something"):
        hub.post_reply(topic.id, "<script>only a script</script>")
    with pytest.raises(ValueError, match="title"):
        hub.edit_topic(topic.id, title="  ")
    with pytest.raises(ValueError, match="does not exist"):
        hub.post_reply(topic.id + 100, "<p>hi</p>")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(DiscussionPost)) == 0
    assert db.session.get(DiscussionTopic, topic.id).title == "Questions"
    assert db.session.scalars(select(HubEntityMap.system).where(HubEntityMap.local_id == topic.id)).all() == []
    env.drain()  # the local topic reaches both sides, titled as it was
    assert [t["title"] for t in env.topics(env.canvas, env.canvas_course)] == ["Questions"]
    assert [t["title"] for t in env.topics(env.other, env.other_course)] == ["Questions"]


def test_the_scheduler_tick_queues_the_hub_pulls(env, app, monkeypatch):
    from app.sync.scheduler import Scheduler

    assert Scheduler(app, owner="host-a:1").tick() is not None
    pulls = db.session.scalars(select(SyncOperation).where(SyncOperation.kind == HUB_PULL)).all()
    assert sorted((o.source_system, o.user_id, o.status) for o in pulls) == [
        ("canvas", env.user_id, "pending"), ("discourse", None, "pending")]
    assert app.extensions["sync_executor"].notified >= 3  # the Canvas sync and both pulls, in the same tick


def test_a_later_delivery_of_the_same_entity_waits_for_the_running_one(env):
    env.canvas.create_topic(env.canvas_course, "Meiosis", "<p>Why two divisions?</p>")
    env.pull("canvas")
    first = db.session.scalars(select(SyncOperation).where(SyncOperation.kind == HUB_DELIVERY)).one()
    second, _ = queue.enqueue(db.session, HUB_DELIVERY, entity_type="discussion_topic", entity_id=first.entity_id,
                              target_system="discourse", user_id=env.user_id)
    [running] = queue.claim(db.session, "worker-1", kinds=[HUB_DELIVERY], policy=FAST)
    [waiting] = queue.claim(db.session, "worker-2", kinds=[HUB_DELIVERY], policy=FAST)
    assert (running.id, waiting.id) == (first.id, second.id)
    assert queue.process_claimed(db.session, waiting, "worker-2", policy=FAST) == "pending"
    assert "still running" in db.session.get(SyncOperation, second.id).error_message
    assert queue.process_claimed(db.session, running, "worker-1", policy=FAST) == "completed"
    env.drain()
    db.session.expire_all()
    assert db.session.get(SyncOperation, second.id).result == {"skipped": "already delivered"}
    assert [m for m, _ in _writes(env.other)] == ["POST"]


def test_our_own_write_whose_answer_was_lost_is_not_taken_for_a_foreign_edit(env, monkeypatch):
    monkeypatch.setitem(env_app(), "HUB_CONFLICT_STRATEGY", "PreferCanvas")
    topic = env.canvas.create_topic(env.canvas_course, "Cells", "<p>Draw one.</p>")
    entry = env.canvas.create_entry(topic["id"], "<p>v1</p>")
    env.sync()
    post = db.session.scalars(select(DiscussionPost)).one()
    mapping = db.session.scalars(select(HubEntityMap).where(HubEntityMap.system == "canvas",
                                                             HubEntityMap.entity_type == "discussion_post")).one()
    lost = (mapping.last_body, mapping.synced_vector_json)
    env.hub().edit_post(post.id, "<p>v2</p>")
    env.drain()  # v2 reaches Canvas ...
    mapping = db.session.get(HubEntityMap, mapping.id)
    mapping.last_body, mapping.synced_vector_json = lost  # ... but the hub never recorded it (a lost answer)
    db.session.commit()
    env.hub().edit_post(post.id, "<p>v3</p>")
    env.drain()
    assert split_marker(env.canvas.data.entries[entry["id"]]["message"])[0] == "<p>v3</p>"
    assert db.session.scalar(select(func.count()).select_from(HubConflict)) == 0
    db.session.expire_all()
    assert db.session.get(DiscussionPost, post.id).body_html == "<p>v3</p>"


def test_a_second_copy_carrying_our_reference_is_not_spread(env):
    """A raced create left two copies of our topic on the other side: the hub keeps to the one it maps."""
    env.hub().create_topic(env.course_id, "Once only", "<p>One copy</p>")
    env.drain()
    topic = _topic()
    env.other.create_topic(env.other_course, "Once only", "<p>One copy</p>" + marker(f"cf-discussion_topic-{topic.id}"))
    assert env.pull("discourse") == {"unchanged": 1, "ignored": 1}
    env.sync()
    assert db.session.scalar(select(func.count()).select_from(DiscussionTopic)) == 1
    assert [t["title"] for t in env.topics(env.canvas, env.canvas_course)] == ["Once only"]


def test_old_log_rows_and_webhook_ids_are_purged_conflicts_kept(env):
    from datetime import timedelta

    from app.models import HubWebhookEvent
    from app.sync.hub.store import purge_history

    env.hub().create_topic(env.course_id, "Kept", "<p>k</p>")
    long_ago = utcnow() - timedelta(days=100)
    db.session.add(HubWebhookEvent(system="canvas", event_id="old", received_at=long_ago))
    db.session.add(HubWebhookEvent(system="canvas", event_id="new", received_at=utcnow()))
    db.session.add(HubConflict(entity_type="discussion_topic", local_id=1, local_system="canvas",
                               remote_system="discourse", local_json="{}", remote_json="{}", rule="PreferCanvas",
                               result_json="{}", created_at=long_ago))
    db.session.execute(HubTransaction.__table__.update().values(created_at=long_ago))
    db.session.commit()
    fresh = HubTransaction(action="deliver", changes_json="{}", created_at=utcnow())
    db.session.add(fresh)
    db.session.commit()
    counts = purge_history(db.session)
    assert counts["webhook_events"] == 1 and counts["transactions"] >= 2
    assert db.session.scalars(select(HubWebhookEvent.event_id)).all() == ["new"]
    assert db.session.scalars(select(HubTransaction.id)).all() == [fresh.id]
    assert db.session.scalar(select(func.count()).select_from(HubConflict)) == 1
