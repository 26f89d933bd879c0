"""The hub's store: mappings, version vectors, the outbox and the transaction log, in one session.

Ingest, delivery and local edits each get this one object and write through it, so what
they share is this interface, not each other's internals. Every hub operation is one
transaction (`atomic`, at HUB_ISOLATION_LEVEL when set); nested work runs in savepoints;
each operation writes a `hub_transaction` row saying what it changed.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.extensions import begin_write
from app.models import Course, HubCourseLink, HubEntityMap, HubTransaction, HubVersionVector, HubWebhookEvent, User
from app.models.types import utcnow
from app.sync import queue
from app.sync.connectors.canvas import canvas_instance
from app.sync.hub.connectors import USER_SCOPED
from app.sync.hub.entities import HUB_DELIVERY, TOPIC, Op
from app.sync.hub.versions import VersionVector
from app.sync.sanitize import sanitize_html


class HubStore:
    def __init__(self, session: Session, *, systems: list[str], policy: queue.RetryPolicy,
                 isolation_level: str | None = None):
        self.session = session
        self.systems = systems
        self.policy = policy
        self.isolation_level = isolation_level

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def atomic(self):
        """One hub operation = one transaction, at HUB_ISOLATION_LEVEL when set; on SQLite it holds the
        write lock from its start (waiting for it), so it never fails on "database is locked"."""
        if self.isolation_level:
            self.session.commit()  # the level is set before a transaction's first statement (no-op when idle)
            self.session.connection(execution_options={"isolation_level": self.isolation_level})
        begin_write(self.session)
        try:
            yield
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise

    def log(self, action: str, system: str | None, entity_type: str | None, local_id: int | None,
            changes: dict, operation_id: int | None) -> None:
        self.session.add(HubTransaction(operation_id=operation_id, action=action, system=system,
                                        entity_type=entity_type, local_id=local_id,
                                        changes_json=json.dumps(changes, default=str, sort_keys=True)))

    # -- lookups -------------------------------------------------------------------------

    def mapping(self, system: str, entity_type: str, external_id: str, instance: str) -> HubEntityMap | None:
        return self.session.scalar(select(HubEntityMap).where(
            HubEntityMap.system == system, HubEntityMap.instance == instance, HubEntityMap.entity_type == entity_type,
            HubEntityMap.external_id == str(external_id)))

    def mapping_for(self, entity_type: str, local_id: int, system: str) -> HubEntityMap | None:
        return self.session.scalar(select(HubEntityMap).where(
            HubEntityMap.entity_type == entity_type, HubEntityMap.local_id == local_id, HubEntityMap.system == system))

    def link(self, course_id: int, system: str) -> HubCourseLink | None:
        return self.session.scalar(select(HubCourseLink).where(HubCourseLink.course_id == course_id,
                                                               HubCourseLink.system == system))

    def link_of_container(self, system: str, container_id: str, instance: str) -> HubCourseLink | None:
        return self.session.scalar(select(HubCourseLink).where(HubCourseLink.system == system,
                                                               HubCourseLink.instance == instance,
                                                               HubCourseLink.container_id == str(container_id)))

    def instance_of(self, system: str, user_id: int | None) -> str:
        """The instance of `system` a user's containers live in: their Canvas's host for a system
        reached with the user's own account, "" for one the deployment has a single account in."""
        if system not in USER_SCOPED or user_id is None:
            return ""
        user = self.session.get(User, user_id)
        return canvas_instance(user.canvas_base_url if user else None)

    def instance_named(self, system: str, claimed: str | None) -> str | None:
        """The linked instance a push's signed claim names (a host, maybe with a port), or None.

        A claim without a port also names the one linked instance on that host with a port."""
        if system not in USER_SCOPED:
            return ""
        key = canvas_instance(claimed)
        if not key:
            return None
        linked = set(self.session.scalars(select(HubCourseLink.instance).where(
            HubCourseLink.system == system,
            (HubCourseLink.instance == key) | HubCourseLink.instance.startswith(f"{key}:", autoescape=True))))
        if key in linked:
            return key
        return linked.pop() if len(linked) == 1 and ":" not in key.rsplit("]", 1)[-1] else None

    def vector(self, entity_type: str, local_id: int) -> VersionVector:
        row = self.session.get(HubVersionVector, (entity_type, local_id))
        return VersionVector.from_json(row.vector_json if row else None)

    def set_vector(self, entity_type: str, local_id: int, vector: VersionVector) -> None:
        row = self.session.get(HubVersionVector, (entity_type, local_id))
        if row is None:
            self.session.add(HubVersionVector(entity_type=entity_type, local_id=local_id,
                                              vector_json=vector.to_json(), updated_at=utcnow()))
        else:
            row.vector_json, row.updated_at = vector.to_json(), utcnow()

    def course_of(self, entity_type: str, entity) -> Course:
        course_id = entity.course_id if entity_type == TOPIC else entity.topic.course_id
        return self.session.get(Course, course_id)

    # -- entities and what each system holds -------------------------------------------

    @staticmethod
    def write(entity_type: str, local, fields: Mapping[str, Any], writer: str, when: datetime | None) -> None:
        """Write new content onto the local entity, as `writer`, dated `when`."""
        if entity_type == TOPIC and "title" in fields:
            local.title = fields["title"]
        local.body_html = fields.get("body_html") or ""
        local.updated_by_system = writer
        local.updated_at = when or utcnow()
        local.deleted_at = None

    @staticmethod
    def held_content(entity_type: str, mapping: HubEntityMap) -> dict | None:
        """The content the system held when the hub last synced with it (None: never recorded)."""
        if mapping.last_body is None:
            return None
        base = {"body_html": sanitize_html(mapping.last_body)}
        if entity_type == TOPIC:
            base["title"] = mapping.last_title or ""
        return base

    # -- the outbox ----------------------------------------------------------------------

    def queue_deliveries(self, entity_type: str, local, *, exclude: str | None) -> list[str]:
        """A hub_delivery operation per linked system but `exclude`, in the caller's transaction."""
        course = self.course_of(entity_type, local)
        topic_id = local.id if entity_type == TOPIC else local.topic_id
        queued = []
        for system in self.systems:
            if system == exclude or self.link(course.id, system) is None:
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


def purge_history(session: Session, now: datetime | None = None, *, log_days: int = 90,
                  event_days: int = 30) -> dict[str, int]:
    """Drop transaction-log rows and seen webhook ids older than their retention (conflicts are kept).

    Meant for the daily maintenance (app/ops/maintenance.py); a sender does not redeliver a push after days.
    """
    now = now or utcnow()
    old_logs = HubTransaction.created_at < now - timedelta(days=log_days)
    old_events = HubWebhookEvent.received_at < now - timedelta(days=event_days)
    logged = session.execute(delete(HubTransaction).where(old_logs)
                             .execution_options(synchronize_session=False)).rowcount
    events = session.execute(delete(HubWebhookEvent).where(old_events)
                             .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return {"transactions": logged, "webhook_events": events}
