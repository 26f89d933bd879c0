"""Conflict strategies, chosen per entity type, and the conflict record (app/sync/hub/conflicts.py)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import HubConflict
from app.sync.hub.conflicts import FIRST_SEEN_CHANGED, ConflictResolver, Version, parse_by_type

EARLY = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
LATE = datetime(2026, 12, 1, 10, 5, tzinfo=timezone.utc)

# A topic: Canvas changed the title, Discourse (later) changed the body: no field changed on both.
TOPIC_BASE = {"title": "Week 1", "body_html": "<p>Say hello</p>"}
TOPIC_CANVAS = Version("canvas", {"title": "Week 1 (revised)", "body_html": "<p>Say hello</p>"}, EARLY)
TOPIC_DISCOURSE = Version("discourse", {"title": "Week 1", "body_html": "<p>Say hello, all</p>"}, LATE)
# A post: both changed the body; each side carries one field the other lacks.
POST_BASE = {"body_html": "<p>I agree</p>"}
POST_CANVAS = Version("canvas", {"body_html": "<p>I agree (canvas)</p>", "author_name": "Ada"}, LATE)
POST_DISCOURSE = Version("discourse", {"body_html": "<p>I agree (discourse)</p>", "tags": "intro"}, EARLY)

CASES = [
    # strategy, entity type, expected fields, expected winner
    ("PreferCanvas", "discussion_topic", dict(TOPIC_CANVAS.fields), "canvas"),
    ("PreferDiscourse", "discussion_topic", dict(TOPIC_DISCOURSE.fields), "discourse"),
    ("PreferMostRecent", "discussion_topic", dict(TOPIC_DISCOURSE.fields), "discourse"),
    ("MergePreferCanvas", "discussion_topic", {"title": "Week 1 (revised)", "body_html": "<p>Say hello, all</p>"},
     None),
    ("MergePreferDiscourse", "discussion_topic",
     {"title": "Week 1 (revised)", "body_html": "<p>Say hello, all</p>"}, None),
    ("PreferCanvas", "discussion_post", dict(POST_CANVAS.fields), "canvas"),
    ("PreferDiscourse", "discussion_post", dict(POST_DISCOURSE.fields), "discourse"),
    ("PreferMostRecent", "discussion_post", dict(POST_CANVAS.fields), "canvas"),
    ("MergePreferCanvas", "discussion_post",
     {"body_html": "<p>I agree (canvas)</p>", "author_name": "Ada", "tags": "intro"}, None),
    ("MergePreferDiscourse", "discussion_post",
     {"body_html": "<p>I agree (discourse)</p>", "author_name": "Ada", "tags": "intro"}, None),
]
SIDES = {"discussion_topic": (TOPIC_CANVAS, TOPIC_DISCOURSE, TOPIC_BASE),
         "discussion_post": (POST_CANVAS, POST_DISCOURSE, POST_BASE)}


@pytest.mark.parametrize("name, entity_type, expected, winner", CASES)
def test_each_strategy_per_entity_type(name, entity_type, expected, winner):
    other_type = "discussion_post" if entity_type == "discussion_topic" else "discussion_topic"
    # The other type is configured differently: the per-type choice must be the one used.
    other = "PreferCanvas" if name != "PreferCanvas" else "PreferDiscourse"
    resolver = ConflictResolver("PreferMostRecent", {entity_type: name, other_type: other})
    canvas, discourse, base = SIDES[entity_type]
    for local, remote in ((canvas, discourse), (discourse, canvas)):  # whichever side arrived second
        resolution = resolver.resolve(entity_type, local, remote, base)
        assert resolution.fields == expected, (name, entity_type, local.system)
        assert resolution.rule == name and resolution.winner == winner


def test_system_wide_default_applies_to_types_without_their_own():
    resolver = ConflictResolver.from_config({"HUB_CONFLICT_STRATEGY": "PreferDiscourse",
                                             "HUB_CONFLICT_STRATEGY_BY_TYPE": "discussion_post=PreferCanvas"})
    assert resolver.strategy_for("discussion_topic").name == "PreferDiscourse"
    assert resolver.strategy_for("discussion_post").name == "PreferCanvas"


def test_merge_without_base_prefers_on_every_differing_field():
    resolution = ConflictResolver("MergePreferCanvas").resolve("discussion_topic", TOPIC_CANVAS, TOPIC_DISCOURSE)
    assert resolution.fields == dict(TOPIC_CANVAS.fields)


def test_bad_configuration_says_what_is_wrong():
    with pytest.raises(ValueError, match="Unknown conflict strategy 'PreferMoodle'"):
        ConflictResolver("PreferMoodle")
    with pytest.raises(ValueError, match="type=Strategy"):
        parse_by_type("discussion_topic")


def test_resolution_is_recorded_with_both_versions(app):
    resolver = ConflictResolver("MergePreferCanvas")
    resolution = resolver.resolve("discussion_topic", TOPIC_DISCOURSE, TOPIC_CANVAS, TOPIC_BASE)
    resolver.record(db.session, "discussion_topic", 7, TOPIC_DISCOURSE, TOPIC_CANVAS, TOPIC_BASE, resolution)
    db.session.commit()
    row = db.session.scalars(select(HubConflict)).one()
    assert (row.entity_type, row.local_id, row.rule, row.local_system, row.remote_system) == (
        "discussion_topic", 7, "MergePreferCanvas", "discourse", "canvas")
    assert json.loads(row.local_json)["fields"] == TOPIC_DISCOURSE.fields
    assert json.loads(row.remote_json)["fields"] == TOPIC_CANVAS.fields
    assert json.loads(row.result_json)["fields"] == resolution.fields
    assert json.loads(row.result_json)["taken_from"] == {"title": "canvas", "body_html": "discourse"}


def test_the_record_says_which_clock_dated_each_side(app):
    # A Canvas topic carries no edit time: its version is dated when the hub first saw it changed.
    canvas = Version("canvas", dict(TOPIC_CANVAS.fields), LATE, FIRST_SEEN_CHANGED)
    resolver = ConflictResolver("PreferMostRecent")
    resolution = resolver.resolve("discussion_topic", TOPIC_DISCOURSE, canvas, TOPIC_BASE)
    resolver.record(db.session, "discussion_topic", 8, TOPIC_DISCOURSE, canvas, TOPIC_BASE, resolution)
    db.session.commit()
    row = db.session.scalars(select(HubConflict)).one()
    assert json.loads(row.remote_json)["clock"] == "first_seen_changed"
    assert json.loads(row.local_json)["clock"] == "writer"
