"""The hub's vocabulary: entity types and helpers, result and thread records, connector building.

Split out of app/sync/hub.py (which re-exports these names); no hub state lives here.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Course, DiscussionPost, DiscussionTopic, HubCourseLink, SyncOperation, User
from app.sync.connectors.canvas import CanvasConnector  # importing it registers "canvas"
from app.sync.connectors.base import Connector, ConnectorRegistry
from app.sync.errors import PermanentError

TOPIC, POST, SNAPSHOT = "discussion_topic", "discussion_post", "snapshot_complete"
ENTITY_TYPES = (TOPIC, POST)
LOCAL = "local"
HUB_DELIVERY, HUB_PULL = "hub_delivery", "hub_pull"
# Systems whose connector acts with the course owner's own account (a Canvas token).
USER_SCOPED = {CanvasConnector.name}
CONTENT_FIELDS = {TOPIC: ("title", "body_html"), POST: ("body_html",)}
MAX_CONFLICT_ROUNDS = 3
Op = SyncOperation


def _model(entity_type: str):
    try:
        return {TOPIC: DiscussionTopic, POST: DiscussionPost}[entity_type]
    except KeyError:
        raise PermanentError(f"The hub does not sync {entity_type!r}.") from None


def hub_ref(entity_type: str, local_id: int) -> str:
    return f"cf-{entity_type}-{local_id}"


def _parse_hub_ref(value: str | None) -> tuple[str, int] | None:
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


@dataclass
class ThreadTopic(ThreadPost):
    title: str = ""
    posts: list[ThreadPost] = field(default_factory=list)



class ConnectorProvider:
    """Builds each system's connector through the registry, for one scope.

    The factory gets (credentials, http session, settings): for Canvas the credentials of
    the user whose course it is; settings are the app's config plus `course_ids`, the
    linked containers of that system (the Canvas course ids, the Discourse category ids).
    """

    def __init__(self, session: Session, registry: ConnectorRegistry, config: Mapping):
        self.session = session
        self.registry = registry
        self.config = config
        self._built: dict[tuple[str, int | None], Connector] = {}

    def get(self, system: str, user_id: int | None = None) -> Connector:
        scope = user_id if system in USER_SCOPED else None
        key = (system, scope)
        if key not in self._built:
            credentials = None
            if system in USER_SCOPED and scope is not None:
                user = self.session.get(User, scope)
                if user is None or not user.has_canvas:
                    raise PermanentError("The course owner has no Canvas account connected any more.")
                credentials = {"base_url": user.canvas_base_url, "token": user.canvas_token}
            settings = {**dict(self.config), "course_ids": self.containers(system, scope)}
            self._built[key] = self.registry.create(system, credentials, None, settings)
        return self._built[key]

    def containers(self, system: str, user_id: int | None = None) -> list[str]:
        stmt = select(HubCourseLink.container_id).where(HubCourseLink.system == system)
        if user_id is not None:
            stmt = stmt.join(Course, Course.id == HubCourseLink.course_id).where(Course.user_id == user_id)
        return sorted(self.session.scalars(stmt), key=lambda c: (len(c), c))

    def scopes(self, system: str) -> list[int | None]:
        """Whom to pull as: each owner of a linked course (Canvas), or the system's one account."""
        if system in USER_SCOPED:
            return list(self.session.scalars(
                select(Course.user_id).join(HubCourseLink, HubCourseLink.course_id == Course.id)
                .where(HubCourseLink.system == system).distinct().order_by(Course.user_id)))
        exists = self.session.scalar(select(func.count()).select_from(HubCourseLink)
                                     .where(HubCourseLink.system == system))
        return [None] if exists else []

    def close(self) -> None:
        for connector in self._built.values():
            close = getattr(connector, "close", None)
            if close is not None:
                close()
        self._built.clear()


def _clean_title(title: str | None) -> str:
    title = (title or "").strip()
    if not title:
        raise ValueError("Give the topic a title.")
    return title[:500]
