"""The hub's vocabulary: entity types and their fields, hub references, result and thread records.

No hub state and no I/O live here: every collaborator of the hub reads these names.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.models import DiscussionPost, DiscussionTopic, SyncOperation
from app.sync.errors import PermanentError

TOPIC, POST, SNAPSHOT = "discussion_topic", "discussion_post", "snapshot_complete"
ENTITY_TYPES = (TOPIC, POST)
LOCAL = "local"
HUB_DELIVERY, HUB_PULL = "hub_delivery", "hub_pull"
CONTENT_FIELDS = {TOPIC: ("title", "body_html"), POST: ("body_html",)}
MAX_CONFLICT_ROUNDS = 3
# (system, entity type) whose edits carry no edit time: Canvas's topics. Their version is dated
# when the hub first saw the content changed.
UNDATED_EDITS = frozenset({("canvas", TOPIC)})
Op = SyncOperation


def model_for(entity_type: str):
    try:
        return {TOPIC: DiscussionTopic, POST: DiscussionPost}[entity_type]
    except KeyError:
        raise PermanentError(f"The hub does not sync {entity_type!r}.") from None


def hub_ref(entity_type: str, local_id: int) -> str:
    return f"cf-{entity_type}-{local_id}"


def parse_hub_ref(value: str | None) -> tuple[str, int] | None:
    if not value or not value.startswith("cf-"):
        return None
    entity_type, _, number = value[3:].rpartition("-")
    return (entity_type, int(number)) if entity_type in ENTITY_TYPES and number.isdigit() else None


def content(entity_type: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that make two versions differ (authorship is not editable)."""
    return {key: fields.get(key) or "" for key in CONTENT_FIELDS[entity_type]}


def entity_fields(entity_type: str, entity) -> dict[str, Any]:
    out = {"body_html": entity.body_html or "", "author_name": entity.author_name}
    if entity_type == TOPIC:
        out["title"] = entity.title or ""
    return out


@dataclass(frozen=True)
class IngestResult:
    status: str  # created | updated | conflict | unchanged | ignored | replayed
    entity_type: str | None = None
    local_id: int | None = None
    queued_for: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class LostEdit:
    conflict_id: int
    fields: dict[str, Any]  # the edit's own content (title and body_html, or body_html)
    kept_from: str  # the system whose version was kept
    kept_written_at: str | None  # ISO time of the kept version, on its writer's clock when it has one
    kept_clock: str
    rule: str


@dataclass
class ThreadPost:
    id: int
    body_html: str
    author_name: str | None
    origin_system: str
    created_at: datetime
    updated_at: datetime
    deleted: bool
    reached: dict[str, str]  # system -> synced | pending | failed
    # system -> the failed delivery there: (operation id, its reason in plain words)
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    author_user_id: int | None = None  # the Canvas Flow user who wrote it here
    # An edit written here that a concurrent edit elsewhere beat: what it said, who won, when they wrote.
    lost_edit: LostEdit | None = None


@dataclass
class ThreadTopic(ThreadPost):
    title: str = ""
    posts: list[ThreadPost] = field(default_factory=list)


def clean_title(title: str | None) -> str:
    title = (title or "").strip()
    if not title:
        raise ValueError("Give the topic a title.")
    return title[:500]
