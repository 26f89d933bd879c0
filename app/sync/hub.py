"""The hub: discussions kept in step between Canvas, Discourse (any connector) and Canvas Flow.

Flow of one change:

* `ingest(change)` (from a pull, a webhook, a delivery conflict) writes the local copy,
  bumps the entity's version vector and, in the SAME transaction, queues a
  `hub_delivery` operation for every other system the course is linked to (a
  transactional outbox), never for the change's origin. A change equal to what the hub
  last synced with that system is an echo of our own write and is ignored.
* A local change (`create_topic`, `post_reply`, `edit_topic`, `edit_post`: the web UI)
  is queued for every system.
* `deliver(...)` (the `hub_delivery` handler, app/sync/hub_jobs.py) builds the outbound Change (target id from
  the mapping, parent from the course link or the topic's mapping), calls
  `connector.apply`, and records the mapping and the version it delivered. A target that
  already holds the content is not written to.
* Concurrent versions (vectors neither before nor after each other), found on ingest or
  as a ConflictError from the target, go to the resolver (app/sync/conflicts.py); every
  resolution is recorded.

Every operation is one transaction (`HUB_ISOLATION_LEVEL` sets its isolation level),
nested work runs in savepoints, and each writes a `hub_transaction` row saying what it
changed. HTTP calls to other systems happen between transactions, never inside one.

Version vectors count changes per writer: "canvas", "discourse", ... and "local" (Canvas
Flow's own web UI). Each mapping stores the vector its system's copy reflects; the copy
is behind (a delivery is due) while the entity's vector dominates it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import (Course, DiscussionPost, DiscussionTopic, HubConflict, HubCourseLink, HubEntityMap,
                        HubTransaction,
                        HubVersionVector, HubWebhookEvent, SyncOperation, User)
from app.models.types import utcnow
from app.sync import queue
from app.sync.conflicts import ConflictResolver, Version
from app.sync.connectors import discourse as _discourse  # noqa: F401  (importing it registers "discourse")
from app.sync.connectors.canvas import CanvasConnector  # importing it registers "canvas"
from app.sync.connectors.base import Change, Connector, ConnectorRegistry, WebhookRejected
from app.sync.connectors.base import registry as default_registry
from app.sync.errors import ConflictError, PermanentError, TransientError
from app.sync.sanitize import sanitize_html
from app.sync.versions import Order, VersionVector

log = logging.getLogger(__name__)

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


@dataclass
class _Plan:
    change: Change | None = None
    vector: VersionVector | None = None
    user_id: int | None = None
    skip: str | None = None
    needs_topic: int | None = None


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


class Hub:
    def __init__(self, session: Session, *, config: Mapping | None = None, registry: ConnectorRegistry | None = None,
                 connectors: ConnectorProvider | None = None):
        self.session = session
        self.config = config if config is not None else current_app.config
        self.registry = registry or default_registry
        self.connectors = connectors or ConnectorProvider(session, self.registry, self.config)
        self.resolver = ConflictResolver.from_config(self.config)
        self.isolation_level = self.config.get("HUB_ISOLATION_LEVEL") or None
        self.policy = queue.RetryPolicy.from_config(self.config)
        configured = self.config.get("HUB_SYSTEMS") or ("canvas", "discourse")
        if isinstance(configured, str):
            configured = [s.strip() for s in configured.split(",") if s.strip()]
        self.systems = [s for s in configured if s in self.registry.names()]

    @classmethod
    def from_app(cls, session: Session, app: Flask | None = None) -> Hub:
        app = app or current_app
        return cls(session, config=app.config, registry=app.extensions.get("hub_registry"))

    def close(self) -> None:
        self.connectors.close()

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def atomic(self):
        """One hub operation = one transaction, at HUB_ISOLATION_LEVEL when set."""
        if self.isolation_level:
            self.session.commit()  # the level is set before a transaction's first statement (no-op when idle)
            self.session.connection(execution_options={"isolation_level": self.isolation_level})
        self._begin_sqlite()
        try:
            yield
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise

    def _begin_sqlite(self) -> None:
        """pysqlite only opens a transaction at the first write, so a SAVEPOINT before it would be the
        outermost transaction (its RELEASE a commit). Open it now: savepoints then nest as they should."""
        connection = self.session.connection()
        if connection.dialect.name != "sqlite":
            return
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN")

    def _log(self, action: str, system: str | None, entity_type: str | None, local_id: int | None,
             changes: dict, operation_id: int | None) -> None:
        self.session.add(HubTransaction(operation_id=operation_id, action=action, system=system,
                                        entity_type=entity_type, local_id=local_id,
                                        changes_json=json.dumps(changes, default=str, sort_keys=True)))

    # -- lookups -------------------------------------------------------------------------

    def _mapping(self, system: str, entity_type: str, external_id: str) -> HubEntityMap | None:
        return self.session.scalar(select(HubEntityMap).where(
            HubEntityMap.system == system, HubEntityMap.entity_type == entity_type,
            HubEntityMap.external_id == str(external_id)))

    def _mapping_for(self, entity_type: str, local_id: int, system: str) -> HubEntityMap | None:
        return self.session.scalar(select(HubEntityMap).where(
            HubEntityMap.entity_type == entity_type, HubEntityMap.local_id == local_id, HubEntityMap.system == system))

    def _link(self, course_id: int, system: str) -> HubCourseLink | None:
        return self.session.scalar(select(HubCourseLink).where(HubCourseLink.course_id == course_id,
                                                               HubCourseLink.system == system))

    def vector(self, entity_type: str, local_id: int) -> VersionVector:
        row = self.session.get(HubVersionVector, (entity_type, local_id))
        return VersionVector.from_json(row.vector_json if row else None)

    def _set_vector(self, entity_type: str, local_id: int, vector: VersionVector) -> None:
        row = self.session.get(HubVersionVector, (entity_type, local_id))
        if row is None:
            self.session.add(HubVersionVector(entity_type=entity_type, local_id=local_id,
                                              vector_json=vector.to_json(), updated_at=utcnow()))
        else:
            row.vector_json, row.updated_at = vector.to_json(), utcnow()

    def _course_of(self, entity_type: str, entity) -> Course:
        course_id = entity.course_id if entity_type == TOPIC else entity.topic.course_id
        return self.session.get(Course, course_id)

    # -- inbound -------------------------------------------------------------------------

    def ingest(self, change: Change, *, operation_id: int | None = None) -> IngestResult:
        """Write one inbound change locally and queue it for the other systems (one transaction)."""
        if change.entity_type not in ENTITY_TYPES:
            return IngestResult("ignored", change.entity_type, reason="not a discussion")
        with self.atomic():
            return self._ingest(change, operation_id)

    def _ingest(self, change: Change, operation_id: int | None) -> IngestResult:
        entity_type, origin = change.entity_type, change.origin
        deleted = change.action == Change.DELETE or bool(change.data.get("deleted"))
        mapping = self._mapping(origin, entity_type, change.external_id)
        if change.data.get("partial"):
            if mapping is None:
                return IngestResult("ignored", entity_type, reason="a partial change of an entity not synced yet")
            change = self._fill_partial(change, mapping)
        if mapping is None:
            local, already_mapped = self._by_hub_ref(change)
            if already_mapped:  # a second copy of ours there (a create raced): never spread it further
                return IngestResult("ignored", entity_type, local.id, reason="a second copy of a synced entity")
            if local is None:
                return self._create_from(change, deleted, operation_id)
            # Our own entity, created there by a delivery whose result we never recorded.
            mapping = HubEntityMap(entity_type=entity_type, local_id=local.id, system=origin,
                                   external_id=str(change.external_id), synced_vector_json="{}")
            self.session.add(mapping)
        elif self._same_as_synced(mapping, change, deleted):
            return IngestResult("unchanged", entity_type, mapping.local_id)
        local = self.session.get(_model(entity_type), mapping.local_id)
        vector = self.vector(entity_type, local.id)
        synced = VersionVector(mapping.synced_vector)
        remote_vector = synced.increment(origin)
        incoming = self._incoming_fields(change)
        if deleted:
            return self._delete_from(change, local, mapping, vector.merge(remote_vector), operation_id)
        if content(entity_type, incoming) == content(entity_type, entity_fields(entity_type, local)) \
                and local.deleted_at is None:
            # Same content already here (our own write, transformed by the target; or the same edit twice).
            self._remember(mapping, change, vector.merge(synced))
            return IngestResult("unchanged", entity_type, local.id)
        order = remote_vector.compare(vector)
        if order is Order.AFTER:
            new_vector = vector.merge(remote_vector)
            before = entity_fields(entity_type, local)
            self._write(entity_type, local, incoming, origin, change.updated_at)
            self._set_vector(entity_type, local.id, new_vector)
            self._remember(mapping, change, new_vector)
            targets = self._queue_deliveries(entity_type, local, exclude=origin)
            self._log("ingest", origin, entity_type, local.id,
                      {"updated": {"before": content(entity_type, before), "after": content(entity_type, incoming)},
                       "vector": new_vector.as_dict(), "queued_for": targets}, operation_id)
            return IngestResult("updated", entity_type, local.id, tuple(targets))
        return self._resolve(change, local, mapping, vector, remote_vector, incoming, operation_id)

    def _create_from(self, change: Change, deleted: bool, operation_id: int | None) -> IngestResult:
        entity_type, origin = change.entity_type, change.origin
        if deleted:
            return IngestResult("ignored", entity_type, reason="deleted before the hub saw it")
        incoming = self._incoming_fields(change)
        now = utcnow()
        created_at = change.data.get("created_at") or change.updated_at or now
        if entity_type == TOPIC:
            link = self.session.scalar(select(HubCourseLink).where(
                HubCourseLink.system == origin, HubCourseLink.container_id == str(change.parent_external_id)))
            if link is None:
                return IngestResult("ignored", entity_type, reason="not in a linked course")
            local = DiscussionTopic(course_id=link.course_id, title=incoming["title"], body_html=incoming["body_html"],
                                    author_name=incoming.get("author_name"), origin_system=origin,
                                    updated_by_system=origin, created_at=created_at,
                                    updated_at=change.updated_at or now)
        else:
            topic_map = self._mapping(origin, TOPIC, str(change.parent_external_id))
            if topic_map is None:
                return IngestResult("ignored", entity_type, reason="its topic is not synced")
            local = DiscussionPost(topic_id=topic_map.local_id, body_html=incoming["body_html"],
                                   author_name=incoming.get("author_name"), origin_system=origin,
                                   updated_by_system=origin, created_at=created_at,
                                   updated_at=change.updated_at or now)
        self.session.add(local)
        self.session.flush()
        vector = VersionVector().increment(origin)
        self._set_vector(entity_type, local.id, vector)
        mapping = HubEntityMap(entity_type=entity_type, local_id=local.id, system=origin,
                               external_id=str(change.external_id))
        self.session.add(mapping)
        self._remember(mapping, change, vector)
        targets = self._queue_deliveries(entity_type, local, exclude=origin)
        self._log("ingest", origin, entity_type, local.id,
                  {"created": content(entity_type, incoming), "vector": vector.as_dict(), "queued_for": targets},
                  operation_id)
        return IngestResult("created", entity_type, local.id, tuple(targets))

    def _delete_from(self, change: Change, local, mapping: HubEntityMap, new_vector: VersionVector,
                     operation_id: int | None) -> IngestResult:
        entity_type = change.entity_type
        self._remember(mapping, change, new_vector)
        if local.deleted_at is not None:
            return IngestResult("unchanged", entity_type, local.id)
        local.deleted_at = change.updated_at or utcnow()
        local.updated_by_system = change.origin
        self._set_vector(entity_type, local.id, new_vector)
        targets = self._queue_deliveries(entity_type, local, exclude=change.origin)
        self._log("ingest", change.origin, entity_type, local.id, {"deleted": True, "queued_for": targets},
                  operation_id)
        return IngestResult("updated", entity_type, local.id, tuple(targets))

    def _resolve(self, change: Change, local, mapping: HubEntityMap, vector: VersionVector,
                 remote_vector: VersionVector, incoming: dict, operation_id: int | None) -> IngestResult:
        """Concurrent versions: the configured strategy decides, the decision is recorded."""
        entity_type, origin = change.entity_type, change.origin
        with self.session.begin_nested():
            local_version = Version(local.updated_by_system, content(entity_type, entity_fields(entity_type, local)),
                                    local.updated_at)
            remote_version = Version(origin, content(entity_type, incoming), change.updated_at or utcnow())
            base = self._base(entity_type, mapping)
            resolution = self.resolver.resolve(entity_type, local_version, remote_version, base)
            conflict = self.resolver.record(self.session, entity_type, local.id, local_version, remote_version,
                                            base, resolution)
            new_vector = vector.merge(remote_vector)
            writer = resolution.winner or "hub"
            self._write(entity_type, local, {**resolution.fields, "author_name": local.author_name}, writer,
                        max(local_version.updated_at or utcnow(), remote_version.updated_at))
            self._set_vector(entity_type, local.id, new_vector)
            self._remember(mapping, change, remote_vector)  # the origin holds its own version
            # Every system, the origin too: the result may differ from what each holds
            # (a system already holding it is not written to, see deliver).
            targets = self._queue_deliveries(entity_type, local, exclude=None)
        self._log("resolve", origin, entity_type, local.id,
                  {"conflict_id": conflict.id, "rule": resolution.rule, "winner": resolution.winner,
                   "result": resolution.fields, "vector": new_vector.as_dict(), "queued_for": targets}, operation_id)
        log.info("event=hub_conflict entity=%s:%s rule=%s winner=%s", entity_type, local.id, resolution.rule,
                 resolution.winner)
        return IngestResult("conflict", entity_type, local.id, tuple(targets))

    def _by_hub_ref(self, change: Change) -> tuple[Any, bool]:
        """(the local entity the change's hub reference names or None, whether it is mapped there already)."""
        parsed = _parse_hub_ref(change.data.get("hub_ref"))
        if parsed is None or parsed[0] != change.entity_type:
            return None, False
        local = self.session.get(_model(parsed[0]), parsed[1])
        if local is None:
            return None, False
        return local, self._mapping_for(parsed[0], parsed[1], change.origin) is not None

    @staticmethod
    def _fill_partial(change: Change, mapping: HubEntityMap) -> Change:
        """Fields a partial change lacks are what the system held when the hub last synced with it."""
        known = {"body_html": mapping.last_body or "", "title": mapping.last_title or "",
                 "version": mapping.last_version}
        given = set(change.data.get("fields") or ())
        data = {**known, **{k: v for k, v in change.data.items() if k in given or k not in known}}
        data.pop("partial", None)
        return replace(change, data=data)

    @staticmethod
    def _incoming_fields(change: Change) -> dict[str, Any]:
        data = change.data
        out = {"body_html": sanitize_html(data.get("body_html")), "author_name": data.get("author_name")}
        if change.entity_type == TOPIC:
            out["title"] = (data.get("title") or "").strip()[:500] or "Untitled"
        return out

    @staticmethod
    def _same_as_synced(mapping: HubEntityMap, change: Change, deleted: bool) -> bool:
        """The system still holds what the hub last synced with it: an echo, or nothing new."""
        if deleted or mapping.last_deleted:
            return deleted == mapping.last_deleted
        if mapping.last_body is None or (change.data.get("body_html") or "") != mapping.last_body:
            return False
        return change.entity_type != TOPIC or (change.data.get("title") or "") == (mapping.last_title or "")

    @staticmethod
    def _base(entity_type: str, mapping: HubEntityMap) -> dict | None:
        if mapping.last_body is None:
            return None
        base = {"body_html": sanitize_html(mapping.last_body)}
        if entity_type == TOPIC:
            base["title"] = mapping.last_title or ""
        return base

    def _remember(self, mapping: HubEntityMap, change: Change, vector: VersionVector) -> None:
        """What this system now holds, as it reported it, and the local version it reflects."""
        data = change.data
        mapping.last_version = None if data.get("version") is None else str(data["version"])[:64]
        mapping.last_body = data.get("body_html") or ""
        if change.entity_type == TOPIC:
            mapping.last_title = (data.get("title") or "")[:500]
        mapping.last_deleted = change.action == Change.DELETE or bool(data.get("deleted"))
        mapping.synced_vector_json = vector.to_json()
        mapping.synced_at = utcnow()

    @staticmethod
    def _write(entity_type: str, local, fields: Mapping[str, Any], writer: str, when: datetime | None) -> None:
        if entity_type == TOPIC and "title" in fields:
            local.title = fields["title"]
        local.body_html = fields.get("body_html") or ""
        local.updated_by_system = writer
        local.updated_at = when or utcnow()
        local.deleted_at = None

    # -- the outbox ----------------------------------------------------------------------

    def _queue_deliveries(self, entity_type: str, local, *, exclude: str | None) -> list[str]:
        """A hub_delivery operation per linked system but `exclude`, in the caller's transaction."""
        course = self._course_of(entity_type, local)
        topic_id = local.id if entity_type == TOPIC else local.topic_id
        queued = []
        for system in self.systems:
            if system == exclude or self._link(course.id, system) is None:
                continue
            waiting = self.session.scalar(select(Op.id).where(
                Op.kind == HUB_DELIVERY, Op.entity_type == entity_type, Op.entity_id == str(local.id),
                Op.target_system == system, Op.status == Op.PENDING).limit(1))
            if waiting is None:  # a pending delivery reads the latest version when it runs: join it
                queue.enqueue(self.session, HUB_DELIVERY, entity_type=entity_type, entity_id=local.id,
                              source_system=local.updated_by_system, target_system=system, user_id=course.user_id,
                              priority=2 if entity_type == TOPIC else 1, batch_key=f"hub:{system}:{topic_id}",
                              policy=self.policy, commit=False)
            queued.append(system)
        return queued

    # -- outbound ------------------------------------------------------------------------

    def deliver(self, entity_type: str, local_id: int, target: str, *, operation_id: int | None = None) -> dict:
        """Bring the target's copy up to the entity's current version (the hub_delivery handler)."""
        if operation_id is not None:
            self._wait_for_earlier(entity_type, local_id, target, operation_id)
        for _ in range(MAX_CONFLICT_ROUNDS):
            with self.atomic():
                plan = self._plan(entity_type, local_id, target, operation_id)
            if plan.needs_topic is not None:  # a reply needs its topic there first
                first = self.deliver(TOPIC, plan.needs_topic, target, operation_id=operation_id)
                if "skipped" in first and self._mapping_for(TOPIC, plan.needs_topic, target) is None:
                    return {"skipped": f"its topic was not delivered ({first['skipped']})"}
                continue
            if plan.skip:
                return {"skipped": plan.skip}
            connector = self.connectors.get(target, plan.user_id)
            try:
                applied = connector.apply(plan.change)
            except ConflictError as exc:
                self._target_conflict(entity_type, local_id, target, exc, operation_id)
                continue
            with self.atomic():
                self._record_delivery(entity_type, local_id, target, plan, applied, operation_id)
            return {"delivered": applied.external_id, "target": target, "vector": plan.vector.as_dict()}
        raise TransientError(f"{target} kept changing {entity_type} {local_id} while the hub delivered it.")

    def _wait_for_earlier(self, entity_type: str, local_id: int, target: str, operation_id: int) -> None:
        """One delivery per entity and target at a time: a later one waits for an earlier one still running.

        Two at once could both create (no mapping yet), or take each other's write for a foreign edit.
        """
        same = [and_(Op.entity_type == entity_type, Op.entity_id == str(local_id))]
        if entity_type == POST:  # its topic's delivery may be creating the container it needs
            post = self.session.get(DiscussionPost, local_id)
            if post is not None:
                same.append(and_(Op.entity_type == TOPIC, Op.entity_id == str(post.topic_id)))
        running = self.session.scalar(select(Op.id).where(
            Op.kind == HUB_DELIVERY, Op.target_system == target, Op.status == Op.IN_PROGRESS,
            Op.id < operation_id, Op.lease_expires_at > utcnow(), or_(*same)).limit(1))
        self.session.commit()
        if running is not None:
            raise TransientError(f"Delivery {running} of the same {entity_type} to {target} is still running; "
                                 "this one waits for it.")

    def _plan(self, entity_type: str, local_id: int, target: str, operation_id: int | None) -> _Plan:
        local = self.session.get(_model(entity_type), local_id)
        if local is None:
            return _Plan(skip="the entity no longer exists")
        vector = self.vector(entity_type, local_id)
        mapping = self._mapping_for(entity_type, local_id, target)
        deleted = local.deleted_at is not None
        if mapping is not None and VersionVector(mapping.synced_vector).dominates(vector):
            return _Plan(skip="already delivered")
        fields = entity_fields(entity_type, local)
        if mapping is not None and mapping.last_deleted == deleted and (
                deleted or self._base(entity_type, mapping) == content(entity_type, fields)):
            mapping.synced_vector_json = vector.merge(VersionVector(mapping.synced_vector)).to_json()
            mapping.synced_at = utcnow()
            self._log("deliver", target, entity_type, local_id, {"skipped": "target already holds it"}, operation_id)
            return _Plan(skip="target already holds it")
        if deleted and mapping is None:
            return _Plan(skip="deleted before it was delivered")
        course = self._course_of(entity_type, local)
        link = self._link(course.id, target)
        if link is None:
            return _Plan(skip=f"the course is not linked to {target}")
        data = {"hub_ref": hub_ref(entity_type, local_id), "body_html": fields["body_html"],
                "author_name": fields["author_name"], "previous_body": mapping.last_body if mapping else None,
                "container_external_id": link.container_id}
        if entity_type == TOPIC:
            data["title"] = fields["title"]
            data["previous_title"] = mapping.last_title if mapping else None
            parent = link.container_id
        else:
            topic_map = self._mapping_for(TOPIC, local.topic_id, target)
            if topic_map is None:
                return _Plan(needs_topic=local.topic_id)
            parent = topic_map.external_id
        change = Change(origin=local.updated_by_system, entity_type=entity_type,
                        external_id=mapping.external_id if mapping else "",
                        action=Change.DELETE if deleted else Change.UPSERT, data=data, parent_external_id=parent,
                        updated_at=local.updated_at)
        # Logged before the write: if its answer is lost, a later conflict can tell our own write from an edit.
        self._log("deliver_attempt", target, entity_type, local_id,
                  {"action": change.action, "content": content(entity_type, data), "vector": vector.as_dict()},
                  operation_id)
        return _Plan(change=change, vector=vector, user_id=course.user_id)

    def _record_delivery(self, entity_type: str, local_id: int, target: str, plan: _Plan, applied,
                         operation_id: int | None) -> None:
        change = plan.change
        mapping = self._mapping_for(entity_type, local_id, target)
        if mapping is None:
            mapping = HubEntityMap(entity_type=entity_type, local_id=local_id, system=target,
                                   external_id=str(applied.external_id))
            self.session.add(mapping)
        elif applied.external_id:
            mapping.external_id = str(applied.external_id)
        held = dict(applied.data or {})
        version = applied.version if applied.version is not None else held.get("version")
        mapping.last_version = None if version is None else str(version)[:64]
        mapping.last_body = held.get("body_html", change.data.get("body_html") or "")
        if entity_type == TOPIC:
            mapping.last_title = (held.get("title") or change.data.get("title") or "")[:500]
        mapping.last_deleted = change.action == Change.DELETE
        # Merged: a newer version the target already reported (a conflict round) stays counted.
        mapping.synced_vector_json = plan.vector.merge(VersionVector(mapping.synced_vector)).to_json()
        mapping.synced_at = utcnow()
        self._log("deliver", target, entity_type, local_id,
                  {"external_id": mapping.external_id, "action": change.action, "vector": plan.vector.as_dict(),
                   "content": content(entity_type, change.data) if change.action != Change.DELETE else None},
                  operation_id)

    def _target_conflict(self, entity_type: str, local_id: int, target: str, exc: ConflictError,
                         operation_id: int | None) -> None:
        """The target changed meanwhile: its current version is ingested (and resolved) first."""
        with self.atomic():
            mapping = self._mapping_for(entity_type, local_id, target)
            if mapping is None:
                raise TransientError(f"{target} reported a conflict on a {entity_type} the hub never delivered.")
            data = {"body_html": exc.current or "", "version": None}
            if entity_type == TOPIC:
                data["title"] = exc.context.get("current_title") or mapping.last_title
            if self._written_by_us(entity_type, local_id, target, data):
                # An earlier attempt of ours landed but its answer was lost: not an edit, nothing to resolve.
                mapping.last_body = data["body_html"]
                if entity_type == TOPIC:
                    mapping.last_title = (data["title"] or "")[:500]
                self._log("deliver", target, entity_type, local_id, {"found": "an earlier write of ours"},
                          operation_id)
                return
            change = Change(origin=target, entity_type=entity_type, external_id=mapping.external_id, data=data,
                            updated_at=utcnow())
            self._ingest(change, operation_id)

    def _written_by_us(self, entity_type: str, local_id: int, target: str, data: dict) -> bool:
        held = content(entity_type, {**data, "body_html": sanitize_html(data.get("body_html"))})
        attempts = self.session.scalars(select(HubTransaction.changes_json).where(
            HubTransaction.action == "deliver_attempt", HubTransaction.system == target,
            HubTransaction.entity_type == entity_type, HubTransaction.local_id == local_id)
            .order_by(HubTransaction.id.desc()).limit(20))
        return any(json.loads(row).get("content") == held for row in attempts)

    # -- local changes (the web UI) --------------------------------------------------------

    def create_topic(self, course_id: int, title: str, body_html: str, *,
                     author_name: str | None = None) -> DiscussionTopic:
        with self.atomic():
            if self.session.get(Course, course_id) is None:
                raise ValueError("That course does not exist.")
            now = utcnow()
            topic = DiscussionTopic(course_id=course_id, title=_clean_title(title), body_html=sanitize_html(body_html),
                                    author_name=author_name, origin_system=LOCAL, updated_by_system=LOCAL,
                                    created_at=now, updated_at=now)
            self.session.add(topic)
            self.session.flush()
            self._local_written(TOPIC, topic, {"created": content(TOPIC, entity_fields(TOPIC, topic))})
        return topic

    def post_reply(self, topic_id: int, body_html: str, *, author_name: str | None = None) -> DiscussionPost:
        with self.atomic():
            topic = self.session.get(DiscussionTopic, topic_id)
            if topic is None or topic.deleted_at is not None:
                raise ValueError("That topic does not exist.")
            body = sanitize_html(body_html)
            if not body.strip():
                raise ValueError("Write something before posting.")
            now = utcnow()
            post = DiscussionPost(topic_id=topic_id, body_html=body, author_name=author_name, origin_system=LOCAL,
                                  updated_by_system=LOCAL, created_at=now, updated_at=now)
            self.session.add(post)
            self.session.flush()
            self._local_written(POST, post, {"created": content(POST, entity_fields(POST, post))})
        return post

    def edit_topic(self, topic_id: int, *, title: str | None = None, body_html: str | None = None) -> DiscussionTopic:
        with self.atomic():
            topic = self.session.get(DiscussionTopic, topic_id)
            if topic is None or topic.deleted_at is not None:
                raise ValueError("That topic does not exist.")
            before = content(TOPIC, entity_fields(TOPIC, topic))
            fields = {"title": _clean_title(title) if title is not None else topic.title,
                      "body_html": sanitize_html(body_html) if body_html is not None else topic.body_html}
            if content(TOPIC, fields) != before:
                self._write(TOPIC, topic, fields, LOCAL, utcnow())
                self._local_written(TOPIC, topic, {"updated": {"before": before, "after": content(TOPIC, fields)}})
        return topic

    def edit_post(self, post_id: int, body_html: str) -> DiscussionPost:
        with self.atomic():
            post = self.session.get(DiscussionPost, post_id)
            if post is None or post.deleted_at is not None:
                raise ValueError("That post does not exist.")
            before = content(POST, entity_fields(POST, post))
            body = sanitize_html(body_html)
            if body != post.body_html:
                self._write(POST, post, {"body_html": body}, LOCAL, utcnow())
                self._local_written(POST, post, {"updated": {"before": before, "after": {"body_html": body}}})
        return post

    def _local_written(self, entity_type: str, entity, changes: dict) -> None:
        vector = self.vector(entity_type, entity.id).increment(LOCAL)
        self._set_vector(entity_type, entity.id, vector)
        targets = self._queue_deliveries(entity_type, entity, exclude=None)
        self._log("local_change", LOCAL, entity_type, entity.id,
                  {**changes, "vector": vector.as_dict(), "queued_for": targets}, None)

    # -- course links --------------------------------------------------------------------

    def link_course(self, course_id: int, discourse_category_id: int | str, *,
                    user_id: int | None = None) -> list[HubCourseLink]:
        """Link a course to a Discourse category (and to itself in Canvas): its topics sync both ways."""
        return self.link_containers(course_id, {"discourse": str(discourse_category_id)}, user_id=user_id)

    def link_containers(self, course_id: int, containers: Mapping[str, str], *,
                        user_id: int | None = None) -> list[HubCourseLink]:
        with self.atomic():
            course = self.session.get(Course, course_id)
            if course is None:
                raise ValueError("That course does not exist.")
            wanted = {"canvas": str(course.canvas_course_id), **{k: str(v) for k, v in containers.items()}}
            links = []
            for system, container in wanted.items():
                taken = self.session.scalar(select(HubCourseLink).where(
                    HubCourseLink.system == system, HubCourseLink.container_id == container,
                    HubCourseLink.course_id != course_id))
                if taken is not None:
                    raise ValueError(f"That {system} container is already linked to another course.")
                link = self._link(course_id, system)
                if link is None:
                    link = HubCourseLink(course_id=course_id, system=system, container_id=container,
                                         created_by_user_id=user_id, created_at=utcnow())
                    self.session.add(link)
                elif link.container_id != container:
                    link.container_id = container
                links.append(link)
            self.session.flush()
            self._log("link_course", None, None, None, {"course_id": course_id, "containers": wanted}, None)
        return links

    # -- pulling and pushes ----------------------------------------------------------------

    def pull(self, system: str, *, user_id: int | None = None, since: datetime | None = None,
             operation_id: int | None = None) -> dict[str, int]:
        """Poll one system (as one scope) and ingest what it reports; counts by outcome."""
        counts: dict[str, int] = {}
        connector = self.connectors.get(system, user_id)
        for change in connector.pull(since):
            if change.entity_type == SNAPSHOT:
                results = [self.ingest(gone, operation_id=operation_id) for gone in self._missing(change)]
            else:
                results = [self.ingest(change, operation_id=operation_id)]
            for result in results:
                counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def _missing(self, snapshot: Change) -> list[Change]:
        """Deletions a complete listing reveals: mapped topics of that container it no longer holds.

        A mapping written after the listing started (a delivery meanwhile) is not judged by it.
        """
        if TOPIC not in (snapshot.data.get("entity_types") or []):
            return []
        listed = set(snapshot.data.get("external_ids") or [])
        link = self.session.scalar(select(HubCourseLink).where(HubCourseLink.system == snapshot.origin,
                                                               HubCourseLink.container_id == snapshot.external_id))
        if link is None:
            return []
        stmt = (select(HubEntityMap).join(DiscussionTopic, DiscussionTopic.id == HubEntityMap.local_id)
                .where(HubEntityMap.system == snapshot.origin, HubEntityMap.entity_type == TOPIC,
                       HubEntityMap.last_deleted.is_(False), DiscussionTopic.course_id == link.course_id))
        if snapshot.updated_at is not None:
            stmt = stmt.where(HubEntityMap.synced_at < snapshot.updated_at)
        gone = [Change(origin=snapshot.origin, entity_type=TOPIC, external_id=m.external_id, action=Change.DELETE,
                       parent_external_id=snapshot.external_id, updated_at=snapshot.updated_at,
                       data={"deleted": True})
                for m in self.session.scalars(stmt) if m.external_id not in listed]
        self.session.commit()
        return gone

    def receive_webhook(self, system: str, headers: Mapping[str, str], body: bytes) -> dict[str, int]:
        """A verified push: each event applied once (its id recorded in the same transaction).

        Raises WebhookRejected (nothing applied) when the connector cannot verify it.
        """
        try:
            connector = self.connectors.get(system, None)
        except PermanentError as exc:  # e.g. Discourse not set up here: refuse the push, apply nothing
            raise WebhookRejected(exc.message, status=503) from None
        changes = self._complete(connector, connector.parse_webhook(dict(headers), body))
        counts: dict[str, int] = {}
        with self.atomic():
            fresh = []
            for event_id in dict.fromkeys(c.event_id for c in changes if c.event_id):
                try:
                    with self.session.begin_nested():
                        self.session.add(HubWebhookEvent(system=system, event_id=str(event_id)[:255],
                                                         received_at=utcnow()))
                        self.session.flush()
                    fresh.append(event_id)
                except IntegrityError:
                    pass  # seen before: a replay
            for change in changes:
                if change.event_id and change.event_id not in fresh:
                    status = "replayed"
                elif change.entity_type in ENTITY_TYPES:
                    status = self._ingest(change, None).status
                else:
                    status = "ignored"
                counts[status] = counts.get(status, 0) + 1
        return counts

    @staticmethod
    def _complete(connector: Connector, changes: list[Change]) -> list[Change]:
        """A partial push (Discourse's topic_edited: a title without the body) becomes the whole topic,
        read from the system now (before any transaction). If that read fails the push is left to
        polling rather than applied half: a partial change never blanks a body."""
        out = []
        for change in changes:
            if not change.data.get("partial"):
                out.append(change)
                continue
            fetch = getattr(connector, "fetch_topic", None)
            try:
                full = fetch(change.external_id) if fetch is not None and change.entity_type == TOPIC else None
            except TransientError as exc:
                log.info("event=hub_partial_push_deferred system=%s id=%s error=%s", change.origin,
                         change.external_id, exc.message)
                full = None
            if full is not None:
                out.append(replace(full, event_id=change.event_id))
            elif change.event_id:
                out.append(change)  # applied field-wise (see _fill_partial)
        return out

    # -- reading -------------------------------------------------------------------------

    def course_thread(self, course_id: int) -> list[ThreadTopic]:
        """The course's topics and posts from every side as one thread, with where each has reached."""
        systems = [link.system for link in self.session.scalars(
            select(HubCourseLink).where(HubCourseLink.course_id == course_id).order_by(HubCourseLink.system))]
        topics = list(self.session.scalars(select(DiscussionTopic).where(DiscussionTopic.course_id == course_id)
                                           .order_by(DiscussionTopic.created_at, DiscussionTopic.id)))
        out = []
        for topic in topics:
            posts = [ThreadPost(id=p.id, body_html=p.body_html, author_name=p.author_name,
                                origin_system=p.origin_system, created_at=p.created_at, updated_at=p.updated_at,
                                deleted=p.deleted_at is not None, reached=self._reached(POST, p.id, systems))
                     for p in sorted(topic.posts, key=lambda p: (p.created_at, p.id))]
            out.append(ThreadTopic(id=topic.id, body_html=topic.body_html, author_name=topic.author_name,
                                   origin_system=topic.origin_system, created_at=topic.created_at,
                                   updated_at=topic.updated_at, deleted=topic.deleted_at is not None,
                                   reached=self._reached(TOPIC, topic.id, systems), title=topic.title, posts=posts))
        return out

    def conflicts(self, *, limit: int = 50, entity_type: str | None = None,
                  local_id: int | None = None) -> list[dict[str, Any]]:
        """The latest recorded conflicts (of one entity when given), newest first, decoded for the conflict log."""
        stmt = select(HubConflict).order_by(HubConflict.id.desc()).limit(limit)
        if entity_type:
            stmt = stmt.where(HubConflict.entity_type == entity_type)
        if local_id is not None:
            stmt = stmt.where(HubConflict.local_id == local_id)
        return [{"id": row.id, "entity_type": row.entity_type, "local_id": row.local_id, "rule": row.rule,
                 "winner": row.winner, "created_at": row.created_at, "local": json.loads(row.local_json),
                 "remote": json.loads(row.remote_json),
                 "base": json.loads(row.base_json) if row.base_json else None,
                 "result": json.loads(row.result_json)} for row in self.session.scalars(stmt)]

    def _reached(self, entity_type: str, local_id: int, systems: Iterable[str]) -> dict[str, str]:
        vector = self.vector(entity_type, local_id)
        out = {}
        for system in systems:
            mapping = self._mapping_for(entity_type, local_id, system)
            if mapping is not None and VersionVector(mapping.synced_vector).dominates(vector):
                out[system] = "synced"
                continue
            last = self.session.scalar(select(Op.status).where(
                Op.kind == HUB_DELIVERY, Op.entity_type == entity_type, Op.entity_id == str(local_id),
                Op.target_system == system).order_by(Op.id.desc()).limit(1))
            out[system] = "failed" if last == Op.FAILED else "pending"
        return out


def _clean_title(title: str | None) -> str:
    title = (title or "").strip()
    if not title:
        raise ValueError("Give the topic a title.")
    return title[:500]
