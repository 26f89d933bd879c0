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

Layout: this module holds Hub itself (transactions, lookups, the outbox) composed of mixins:
hub_ingest (inbound: ingest, pull, webhooks), hub_delivery (outbound: deliver), hub_local
(web UI changes, course links) and hub_read (threads, conflict log); hub_model holds the
entity helpers, records and ConnectorProvider. The names other code imports stay importable here.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import contextmanager

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Course, HubCourseLink, HubEntityMap, HubTransaction, HubVersionVector
from app.models.types import utcnow
from app.sync import queue
from app.sync.conflicts import ConflictResolver
from app.sync.connectors import discourse as _discourse  # noqa: F401  (importing it registers "discourse")
from app.sync.connectors.base import ConnectorRegistry
from app.sync.connectors.base import registry as default_registry
from app.sync.hub_delivery import DeliveryMixin, _Plan
from app.sync.hub_ingest import IngestMixin, log
from app.sync.hub_local import LocalChangesMixin
from app.sync.hub_model import (  # re-exported (see __all__)
    CONTENT_FIELDS, ENTITY_TYPES, HUB_DELIVERY, HUB_PULL, LOCAL, MAX_CONFLICT_ROUNDS, POST, SNAPSHOT, TOPIC,
    USER_SCOPED, ConnectorProvider, IngestResult, Op, ThreadPost, ThreadTopic, _clean_title, _model, _parse_hub_ref,
    content, entity_fields, hub_ref)
from app.sync.hub_read import ReadMixin
from app.sync.versions import VersionVector

__all__ = ["CONTENT_FIELDS", "ENTITY_TYPES", "HUB_DELIVERY", "HUB_PULL", "LOCAL", "MAX_CONFLICT_ROUNDS", "POST",
           "SNAPSHOT", "TOPIC", "USER_SCOPED", "ConnectorProvider", "Hub", "IngestResult", "Op", "ThreadPost",
           "ThreadTopic", "_Plan", "_clean_title", "_model", "_parse_hub_ref", "content", "entity_fields", "hub_ref",
           "log"]


class Hub(IngestMixin, DeliveryMixin, LocalChangesMixin, ReadMixin):
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
