"""Shared by the hub's tests (test_hub.py: two sandbox Canvases; test_hub_discourse.py: sandbox
Canvas + sandbox Discourse): the linked-course environment, one adapter per kind of side
(what a person does there, what it now holds, what was written to it), and the test bodies
both pairings run (the strategy table, the chaos run), so neither file copies the other.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import DiscussionPost, DiscussionTopic, HubConflict, HubEntityMap, HubTransaction, SyncOperation
from app.models.types import utcnow
from app.sync import queue
from app.sync.connectors.canvas import split_marker
from app.sync.connectors.discourse import MARKER as DISCOURSE_MARKER
from app.sync.connectors.discourse import hub_ref_in
from app.sync.hub import HUB_DELIVERY, HUB_PULL, Hub
from app.sync.jobs.hub_pull import queue_due_pulls

SIDE = {"courses": 1, "assignments": 1, "students": 2, "topics_per_course": 0}
FAST = queue.RetryPolicy(max_attempts=6, backoff_base_s=0.0, backoff_max_s=0.0, lease_s=60)


# -- sides -----------------------------------------------------------------------------


class CanvasSide:
    """A sandbox Canvas course, as a teacher in Canvas sees and edits it."""

    kind = "canvas"
    # Every fault but "slow" and "503" (whose Retry-After: 1 the client honours: seconds of sleep).
    CHAOS_FAULTS = ["500", "502", "504", "drop", "truncated", "malformed", "throttle"]

    def __init__(self, sandbox, course_id: int):
        self.sandbox, self.container = sandbox, course_id

    def topics(self) -> list[dict]:
        return [{"id": t["id"], "title": t["title"], "body": split_marker(t["message"])[0],
                 "ref": split_marker(t["message"])[1]} for t in self.sandbox.data.course_topics(self.container)]

    def topic(self, topic_id) -> tuple[str, str]:
        held = self.sandbox.data.topics[int(topic_id)]
        return held["title"], split_marker(held["message"])[0]

    def posts(self, topic_id) -> list[dict]:
        return [{"id": e["id"], "body": split_marker(e["message"])[0], "ref": split_marker(e["message"])[1]}
                for e in self.sandbox.data.topic_entries(int(topic_id)) if not e.get("deleted")]

    def post(self, post_id) -> str:
        return split_marker(self.sandbox.data.entries[int(post_id)]["message"])[0]

    def create_topic(self, title: str, body: str) -> int:
        return self.sandbox.create_topic(self.container, title, body)["id"]

    def reply(self, topic_id, body: str) -> int:
        return self.sandbox.create_entry(int(topic_id), body)["id"]

    def edit_topic(self, topic_id, *, title: str | None = None, body: str | None = None) -> None:
        fields = {"title": title} if title is not None else {}
        if body is not None:
            held = self.sandbox.data.topics[int(topic_id)]["message"]
            fields["message"] = _keep_canvas_marker(held, body)
        self.sandbox.update_topic(int(topic_id), **fields)

    def edit_post(self, post_id, body: str, *, at: datetime | None = None) -> None:
        held = self.sandbox.data.entries[int(post_id)]["message"]
        entry = self.sandbox.update_entry(int(post_id), _keep_canvas_marker(held, body))
        if at is not None:  # when the edit happened, as Canvas will report it
            entry["updated_at"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def writes(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.sandbox.writes()]

    def write_entries(self):
        return self.sandbox.writes()

    def set_faults(self, rate: float, seed: int = 0) -> None:
        if rate:
            self.sandbox.set_faults(rate, seed=seed, kinds=self.CHAOS_FAULTS)
        else:
            self.sandbox.set_faults(0.0)


class DiscourseSide:
    """A sandbox Discourse category, as forum members see and edit it (alice writes, bob edits)."""

    kind = "discourse"
    CHAOS_FAULTS = ["500", "502", "503", "drop", "lost"]

    def __init__(self, sandbox, category_id: int):
        self.sandbox, self.container = sandbox, category_id
        self.forum = sandbox.forum

    def _first(self, topic_id):
        return self.forum.first_post(self.forum.topics[int(topic_id)])

    def topics(self) -> list[dict]:
        return [{"id": t.id, "title": t.title, "body": self.forum.first_post(t).cooked,
                 "ref": t.external_id or hub_ref_in(self.forum.first_post(t).raw)}
                for t in self.forum.category_topics(self.container)]

    def topic(self, topic_id) -> tuple[str, str]:
        return self.forum.topics[int(topic_id)].title, self._first(topic_id).cooked

    def posts(self, topic_id) -> list[dict]:
        topic = self.forum.topics[int(topic_id)]
        return [{"id": p.id, "body": p.cooked, "ref": hub_ref_in(p.raw)}
                for p in (self.forum.posts[i] for i in topic.post_ids[1:]) if p.deleted_at is None]

    def post(self, post_id) -> str:
        return self.forum.posts[int(post_id)].cooked

    def create_topic(self, title: str, body: str) -> int:
        return self.sandbox.create_topic("alice", self.container, title, body)["topic_id"]

    def reply(self, topic_id, body: str) -> int:
        return self.sandbox.reply("alice", int(topic_id), body)["id"]

    def edit_topic(self, topic_id, *, title: str | None = None, body: str | None = None) -> None:
        first = self._first(topic_id)
        raw = first.raw if body is None else _keep_discourse_marker(first.raw, body)
        self.sandbox.edit_post("bob", first.id, raw, title=title)

    def edit_post(self, post_id, body: str, *, at: datetime | None = None) -> None:
        if at is not None:  # the forum's clock only moves forward: the edit happens at `at` or later
            self.sandbox.advance_clock(max(0.0, at.timestamp() - self.sandbox.clock.now()))
        self.sandbox.edit_post("bob", int(post_id), _keep_discourse_marker(self.forum.posts[int(post_id)].raw, body))

    def writes(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.sandbox.writes()]

    def write_entries(self):
        return self.sandbox.writes()

    def set_faults(self, rate: float, seed: int = 0) -> None:
        self.sandbox.set_faults(rate, seed=seed, kinds=self.CHAOS_FAULTS if rate else None)


def _keep_canvas_marker(held: str, body: str) -> str:
    """A person editing the text leaves the hub's (invisible) marker where it is."""
    from app.sync.connectors.canvas import marker

    ref = split_marker(held)[1]
    return body + marker(ref) if ref else body


def _keep_discourse_marker(raw: str, body: str) -> str:
    found = DISCOURSE_MARKER.search(raw or "")
    return body + found.group(0) if found else body


# -- the environment ---------------------------------------------------------------------


class HubDriver:
    """What a schedule tick and the workers do, run by the test itself: pulls, then the queue
    drained. A subclass has ``user_id`` (whose Canvas token pulls) and may set ``policy``."""

    policy = FAST

    def hub(self) -> Hub:
        return Hub.from_app(db.session)

    def pull(self, system: str) -> dict:
        hub = self.hub()
        try:
            return hub.pull(system, user_id=self.user_id if system == "canvas" else None)
        finally:
            hub.close()

    def drain(self, policy: queue.RetryPolicy | None = None) -> int:
        return queue.process_available(db.session, "test-worker", kinds=[HUB_DELIVERY, HUB_PULL],
                                       policy=policy or self.policy)

    def sync(self) -> None:
        """Both pulls, then every delivery."""
        self.pull("canvas")
        self.pull("discourse")
        self.drain()


@dataclass
class Env(HubDriver):
    """One course linked on two sides: `a` is always the sandbox Canvas ("canvas"), `b` the
    system registered as "discourse" (a second Canvas, or the sandbox Discourse)."""

    a: CanvasSide
    b: CanvasSide | DiscourseSide
    user_id: int
    course_id: int

    # Canvas<->Canvas names the older tests use.
    @property
    def canvas(self):
        return self.a.sandbox

    @property
    def other(self):
        return self.b.sandbox

    @property
    def canvas_course(self) -> int:
        return self.a.container

    @property
    def other_course(self) -> int:
        return self.b.container

    def side(self, system: str):
        return self.a if system == "canvas" else self.b

    def forget_deliveries(self, system: str) -> None:
        """The hub loses what it wrote to ``system`` and every operation runs again (a crash after the write)."""
        db.session.execute(HubEntityMap.__table__.delete().where(HubEntityMap.system == system))
        db.session.execute(SyncOperation.__table__.update().values(status="pending", attempts=0, finished_at=None))
        db.session.commit()

    def topics(self, sandbox, course):
        return list(sandbox.data.course_topics(course))

    def entries(self, sandbox, topic_id):
        return [e for e in sandbox.data.topic_entries(topic_id) if not e.get("deleted")]


def make_env(canvas_sandbox, other: CanvasSide | DiscourseSide) -> Env:
    """A teacher whose Canvas course (the sandbox's one enrolled course) is linked to `other`'s container."""
    from app.models import Course
    from tests.helpers import make_canvas_user

    user = make_canvas_user(canvas_sandbox, email="teacher@example.com")
    [canvas_course] = canvas_sandbox.data.enrolled
    course = Course(user_id=user.id, canvas_course_id=canvas_course, name="Biology")
    db.session.add(course)
    db.session.commit()
    env = Env(CanvasSide(canvas_sandbox, canvas_course), other, user.id, course.id)
    hub = env.hub()
    hub.link_course(course.id, other.container, user_id=user.id)
    hub.close()
    return env


def config():
    return current_app.config


def current_topic() -> DiscussionTopic:
    return db.session.scalars(select(DiscussionTopic)).one()


def mapped(system: str, entity_type: str, local_id: int) -> str:
    return db.session.scalar(select(HubEntityMap.external_id).where(
        HubEntityMap.system == system, HubEntityMap.entity_type == entity_type, HubEntityMap.local_id == local_id))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# -- the strategy table ------------------------------------------------------------------

TOPIC_ORIGINAL = ("Week 1 introductions", "<p>Say hello</p>")
TOPIC_CANVAS = ("Week 1 introductions (revised)", "<p>Say hello</p>")
TOPIC_OTHER = ("Week 1 introductions", "<p>Say hello, everyone</p>")
TOPIC_MERGED = ("Week 1 introductions (revised)", "<p>Say hello, everyone</p>")
POST_CANVAS, POST_OTHER = "<p>Hello from Canvas</p>", "<p>Hello from the other side</p>"

STRATEGY_CASES = [
    ("PreferCanvas", "discussion_topic", TOPIC_CANVAS),
    ("PreferDiscourse", "discussion_topic", TOPIC_OTHER),
    ("PreferMostRecent", "discussion_topic", TOPIC_OTHER),  # edited after the Canvas edit was seen
    ("MergePreferCanvas", "discussion_topic", TOPIC_MERGED),
    ("MergePreferDiscourse", "discussion_topic", TOPIC_MERGED),
    ("PreferCanvas", "discussion_post", POST_CANVAS),
    ("PreferDiscourse", "discussion_post", POST_OTHER),
    ("PreferMostRecent", "discussion_post", POST_OTHER),  # edited later
    ("MergePreferCanvas", "discussion_post", POST_CANVAS),
    ("MergePreferDiscourse", "discussion_post", POST_OTHER),
]


def check_strategy(env: Env, monkeypatch, strategy: str, entity_type: str, expected) -> None:
    """Concurrent edits on both sides: the strategy chosen for the entity type decides, once, everywhere.

    Canvas's edit is pulled first; the other side edits before the hub's delivery reaches it,
    so its edit is concurrent with (and later than) Canvas's.
    """
    # The system-wide strategy differs: the per-type one must be the one applied.
    monkeypatch.setitem(config(), "HUB_CONFLICT_STRATEGY", "PreferDiscourse" if strategy == "PreferCanvas"
                        else "PreferCanvas")
    monkeypatch.setitem(config(), "HUB_CONFLICT_STRATEGY_BY_TYPE", f"{entity_type}={strategy}")
    topic_id = env.a.create_topic(*TOPIC_ORIGINAL)
    post_id = env.a.reply(topic_id, "<p>Hello there, class</p>")
    env.sync()
    [copy] = env.b.topics()
    [copy_post] = env.b.posts(copy["id"])
    if entity_type == "discussion_topic":
        env.a.edit_topic(topic_id, title=TOPIC_CANVAS[0])
        env.pull("canvas")
        env.b.edit_topic(copy["id"], body=TOPIC_OTHER[1])
    else:
        now = utcnow()
        env.a.edit_post(post_id, POST_CANVAS, at=now)
        env.pull("canvas")
        env.b.edit_post(copy_post["id"], POST_OTHER, at=now + timedelta(minutes=1))
    env.sync()
    env.sync()
    [conflict] = db.session.scalars(select(HubConflict)).all()
    assert (conflict.entity_type, conflict.rule) == (entity_type, strategy)
    assert json.loads(conflict.local_json)["system"] == "canvas"
    assert json.loads(conflict.remote_json)["system"] == "discourse"
    if entity_type == "discussion_topic":
        local = db.session.get(DiscussionTopic, current_topic().id)
        assert [env.a.topic(topic_id), env.b.topic(copy["id"])] == [expected, expected]
        assert (local.title, local.body_html) == expected
    else:
        local = db.session.scalars(select(DiscussionPost)).one()
        assert [env.a.post(post_id), env.b.post(copy_post["id"])] == [expected, expected]
        assert local.body_html == expected
    # Settled: another round changes nothing anywhere.
    before = (len(env.a.writes()), len(env.b.writes()))
    env.sync()
    assert (len(env.a.writes()), len(env.b.writes())) == before
    assert count(HubConflict) == 1
    [logged] = env.hub().conflicts()
    assert (logged["rule"], logged["local"]["system"], logged["remote"]["system"]) == (strategy, "canvas", "discourse")


# -- chaos -----------------------------------------------------------------------------


def run_chaos(env: Env, app, monkeypatch, *, edits: int = 200, seed: int = 12) -> dict:
    """`edits` edits at random on both sides and locally while both servers inject 10% faults:
    all three end equal, every conflict recorded, nothing duplicated, nothing echoed."""
    monkeypatch.setitem(config(), "HUB_CONFLICT_STRATEGY", "PreferCanvas")
    monkeypatch.setitem(config(), "HUB_CONFLICT_STRATEGY_BY_TYPE", "discussion_topic=MergePreferDiscourse")
    rng = random.Random(seed)
    topic_id = env.a.create_topic("Chaos in the classroom", "<p>start here</p>")
    for n in range(3):
        env.a.reply(topic_id, f"<p>first entry number {n}</p>")
    env.sync()
    [copy] = env.b.topics()
    ids = {"canvas": topic_id, "discourse": copy["id"]}
    env.a.set_faults(0.1, seed=5)
    env.b.set_faults(0.1, seed=6)
    made = {"canvas": 0, "discourse": 0, "local": 0}

    def queued_sync():
        queue_due_pulls(app, utcnow() + timedelta(days=1))
        env.drain()

    for n in range(edits):
        system = rng.choice(["canvas", "discourse", "discourse", "canvas", "local"])
        made[system] += 1
        what = rng.random()
        if system == "local":
            posts = db.session.scalars(select(DiscussionPost).where(DiscussionPost.deleted_at.is_(None))).all()
            if what < 0.2 or not posts:
                env.hub().post_reply(current_topic().id, f"<p>local reply number {n}</p>")
            else:
                env.hub().edit_post(rng.choice(posts).id, f"<p>local edit number {n}</p>")
            continue
        side, tid = env.side(system), ids[system]
        live = side.posts(tid)
        if what < 0.15:
            if rng.random() < 0.5:
                side.edit_topic(tid, title=f"Chaos in the classroom {n}")
            else:
                side.edit_topic(tid, body=f"<p>{system} topic edit number {n}</p>")
        elif what < 0.3 or not live:
            side.reply(tid, f"<p>{system} reply number {n}</p>")
        else:
            side.edit_post(rng.choice(live)["id"], f"<p>{system} edit number {n}</p>")
        if n % 20 == 19:
            queued_sync()
    env.a.set_faults(0.0)
    env.b.set_faults(0.0)
    for _ in range(4):
        queued_sync()
    ops = db.session.scalars(select(SyncOperation)).all()
    assert not [(o.kind, o.status, o.error_message) for o in ops if o.status in ("pending", "in_progress", "failed")]
    # Equal everywhere: the topic, and every reply once on each side (nothing duplicated).
    local = current_topic()
    db.session.refresh(local)
    live_local = sorted(p.body_html for p in local.posts if p.deleted_at is None)
    for system, tid in ids.items():
        side = env.side(system)
        assert side.topic(tid) == (local.title, local.body_html), system
        assert sorted(p["body"] for p in side.posts(tid)) == live_local, system
        refs = [p["ref"] for p in side.posts(tid) if p["ref"]]
        assert len(refs) == len(set(refs)), system  # no second copy of any post the hub wrote
    assert len(env.b.topics()) == 1 and len(env.a.topics()) == 1
    # Every conflict recorded, as many as the resolutions logged; settled: another round writes nothing.
    conflicts = count(HubConflict)
    resolves = db.session.scalar(select(func.count()).select_from(HubTransaction)
                                 .where(HubTransaction.action == "resolve"))
    assert conflicts == resolves and conflicts > 0
    before = (len(env.a.writes()), len(env.b.writes()))
    queued_sync()
    assert (len(env.a.writes()), len(env.b.writes())) == before
    # Nothing echoed: each side received at most one clean write per change made elsewhere (plus resolutions).
    for side, elsewhere in ((env.a, made["discourse"] + made["local"]), (env.b, made["canvas"] + made["local"])):
        writes = side.write_entries()
        clean = [w for w in writes if w.fault is None and w.status is not None and w.status < 300]
        faulted = [w for w in writes if w.fault is not None]
        assert len(clean) <= elsewhere + 4 + conflicts + len(faulted), (side.kind, len(clean), elsewhere, conflicts)
    return {"edits": made, "conflicts": conflicts}


# Concurrent edits where the order the hub sees them differs from the order they were written:
# "most recent" means on the writers' clocks. Each step: (writer, minutes from now its edit is
# dated), in the order the hub learns of them (a local edit is dated when it is made: offset 0).
WRITERS_ORDER_CASES = [
    ("canvas seen first, written last", [("canvas", 0), ("discourse", -5)], "canvas"),
    ("discourse seen first, written last", [("discourse", 0), ("canvas", -5)], "discourse"),
    ("local seen first, written last", [("local", 0), ("discourse", -5)], "local"),
    ("local seen first, written first: it loses", [("local", 0), ("discourse", 5)], "discourse"),
]


def check_writers_order(env: Env, monkeypatch, steps: list[tuple[str, int]], winner: str) -> None:
    """Each side edits the same reply; PreferMostRecent keeps the edit written last, whatever the pull
    order; a losing edit written here is offered back to its author with its text."""
    monkeypatch.setitem(config(), "HUB_CONFLICT_STRATEGY", "PreferMostRecent")
    monkeypatch.setitem(config(), "HUB_CONFLICT_STRATEGY_BY_TYPE", "")
    topic_id = env.a.create_topic(*TOPIC_ORIGINAL)
    env.a.reply(topic_id, "<p>Hello there, class</p>")
    env.sync()
    local_post = db.session.scalars(select(DiscussionPost)).one()
    ids = {system: int(mapped(system, "discussion_post", local_post.id).split(":")[-1])
           for system in ("canvas", "discourse")}
    now = utcnow()
    for writer, minutes in steps:
        text = f"<p>{writer}'s edit</p>"
        if writer == "local":
            hub = env.hub()
            try:
                hub.edit_post(local_post.id, text)
            finally:
                hub.close()
        else:
            env.side(writer).edit_post(ids[writer], text, at=now + timedelta(minutes=minutes))
            env.pull(writer)
    env.drain()
    env.sync()
    expected = f"<p>{winner}'s edit</p>"
    db.session.expire_all()
    assert db.session.get(DiscussionPost, local_post.id).body_html == expected
    assert [env.a.post(ids["canvas"]), env.b.post(ids["discourse"])] == [expected, expected]
    [conflict] = db.session.scalars(select(HubConflict)).all()
    assert (conflict.rule, json.loads(conflict.remote_json)["clock"]) == ("PreferMostRecent", "writer")
    hub = env.hub()
    try:
        [thread_topic] = hub.course_thread(env.course_id)
    finally:
        hub.close()
    lost = thread_topic.posts[0].lost_edit
    if "local" in dict(steps) and winner != "local":
        assert lost is not None and lost.fields == {"body_html": "<p>local's edit</p>"} and lost.kept_from == winner
    else:
        assert lost is None
