"""The hub's outbound half: bringing a target system's copy up to date (the hub_delivery job).

`deliver` plans the outbound Change in one transaction, calls the connector between
transactions, and records the mapping and delivered version in another.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from app.models import DiscussionPost, HubEntityMap, HubTransaction
from app.models.types import utcnow
from app.sync.connectors.base import Change
from app.sync.errors import ConflictError, TransientError
from app.sync.hub.connectors import ConnectorProvider
from app.sync.hub.entities import (HUB_DELIVERY, MAX_CONFLICT_ROUNDS, POST, TOPIC, Op, content, entity_fields,
                                   hub_ref, model_for)
from app.sync.hub.ingest import Ingest
from app.sync.hub.store import HubStore
from app.sync.hub.versions import VersionVector
from app.sync.sanitize import sanitize_html


@dataclass
class DeliveryPlan:
    change: Change | None = None
    vector: VersionVector | None = None
    user_id: int | None = None
    skip: str | None = None
    needs_topic: int | None = None
    instance: str = ""  # the target instance the course is linked in (HubCourseLink.instance)


class Delivery:
    def __init__(self, store: HubStore, connectors: ConnectorProvider, ingestion: Ingest):
        self.store = store
        self.session = store.session
        self.connectors = connectors
        self.ingestion = ingestion

    def deliver(self, entity_type: str, local_id: int, target: str, *, operation_id: int | None = None) -> dict:
        """Bring the target's copy up to the entity's current version (the hub_delivery handler)."""
        if operation_id is not None:
            self._wait_for_earlier(entity_type, local_id, target, operation_id)
        for _ in range(MAX_CONFLICT_ROUNDS):
            with self.store.atomic():
                plan = self._plan(entity_type, local_id, target, operation_id)
            if plan.needs_topic is not None:  # a reply needs its topic there first
                first = self.deliver(TOPIC, plan.needs_topic, target, operation_id=operation_id)
                if "skipped" in first and self.store.mapping_for(TOPIC, plan.needs_topic, target) is None:
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
            with self.store.atomic():
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

    def _plan(self, entity_type: str, local_id: int, target: str, operation_id: int | None) -> DeliveryPlan:
        local = self.session.get(model_for(entity_type), local_id)
        if local is None:
            return DeliveryPlan(skip="the entity no longer exists")
        vector = self.store.vector(entity_type, local_id)
        mapping = self.store.mapping_for(entity_type, local_id, target)
        deleted = local.deleted_at is not None
        if mapping is not None and VersionVector(mapping.synced_vector).dominates(vector):
            return DeliveryPlan(skip="already delivered")
        fields = entity_fields(entity_type, local)
        if mapping is not None and mapping.last_deleted == deleted and (
                deleted or self.store.held_content(entity_type, mapping) == content(entity_type, fields)):
            mapping.synced_vector_json = vector.merge(VersionVector(mapping.synced_vector)).to_json()
            mapping.synced_at = utcnow()
            self.store.log("deliver", target, entity_type, local_id, {"skipped": "target already holds it"}, operation_id)
            return DeliveryPlan(skip="target already holds it")
        if deleted and mapping is None:
            return DeliveryPlan(skip="deleted before it was delivered")
        course = self.store.course_of(entity_type, local)
        link = self.store.link(course.id, target)
        if link is None:
            return DeliveryPlan(skip=f"the course is not linked to {target}")
        if link.instance != self.store.instance_of(target, course.user_id):
            # The owner's account now points at another instance: its same bare ids are someone else's.
            return DeliveryPlan(skip=f"the course is linked in another {target} instance than its owner's")
        data = {"hub_ref": hub_ref(entity_type, local_id), "body_html": fields["body_html"],
                "author_name": fields["author_name"], "previous_body": mapping.last_body if mapping else None,
                "container_external_id": link.container_id}
        if entity_type == TOPIC:
            data["title"] = fields["title"]
            data["previous_title"] = mapping.last_title if mapping else None
            parent = link.container_id
        else:
            topic_map = self.store.mapping_for(TOPIC, local.topic_id, target)
            if topic_map is None:
                return DeliveryPlan(needs_topic=local.topic_id)
            parent = topic_map.external_id
        change = Change(origin=local.updated_by_system, entity_type=entity_type,
                        external_id=mapping.external_id if mapping else "",
                        action=Change.DELETE if deleted else Change.UPSERT, data=data, parent_external_id=parent,
                        updated_at=local.updated_at)
        # Logged before the write: if its answer is lost, a later conflict can tell our own write from an edit.
        self.store.log("deliver_attempt", target, entity_type, local_id,
                  {"action": change.action, "content": content(entity_type, data), "vector": vector.as_dict()},
                  operation_id)
        return DeliveryPlan(change=change, vector=vector, user_id=course.user_id, instance=link.instance)

    def _record_delivery(self, entity_type: str, local_id: int, target: str, plan: DeliveryPlan, applied,
                         operation_id: int | None) -> None:
        change = plan.change
        mapping = self.store.mapping_for(entity_type, local_id, target)
        if mapping is None:
            mapping = HubEntityMap(entity_type=entity_type, local_id=local_id, system=target, instance=plan.instance,
                                   external_id=str(applied.external_id))
            self.session.add(mapping)
        elif applied.external_id:
            mapping.external_id = str(applied.external_id)
        held = dict(applied.data or {})
        version = applied.version if applied.version is not None else held.get("version")
        mapping.last_version = None if version is None else str(version)[:64]
        mapping.last_body = held.get("body_html", change.data.get("body_html") or "")
        mapping.last_raw = held.get("raw")
        if entity_type == TOPIC:
            mapping.last_title = (held.get("title") or change.data.get("title") or "")[:500]
        mapping.last_deleted = change.action == Change.DELETE
        # Merged: a newer version the target already reported (a conflict round) stays counted.
        mapping.synced_vector_json = plan.vector.merge(VersionVector(mapping.synced_vector)).to_json()
        mapping.synced_at = utcnow()
        self.store.log("deliver", target, entity_type, local_id,
                  {"external_id": mapping.external_id, "action": change.action, "vector": plan.vector.as_dict(),
                   "content": content(entity_type, change.data) if change.action != Change.DELETE else None},
                  operation_id)

    def _target_conflict(self, entity_type: str, local_id: int, target: str, exc: ConflictError,
                         operation_id: int | None) -> None:
        """The target changed meanwhile: its current version is ingested (and resolved) first."""
        with self.store.atomic():
            mapping = self.store.mapping_for(entity_type, local_id, target)
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
                self.store.log("deliver", target, entity_type, local_id, {"found": "an earlier write of ours"},
                          operation_id)
                return
            change = Change(origin=target, entity_type=entity_type, external_id=mapping.external_id, data=data,
                            updated_at=utcnow(), instance=mapping.instance)
            self.ingestion.ingest_in_transaction(change, operation_id)

    def _written_by_us(self, entity_type: str, local_id: int, target: str, data: dict) -> bool:
        held = content(entity_type, {**data, "body_html": sanitize_html(data.get("body_html"))})
        attempts = self.session.scalars(select(HubTransaction.changes_json).where(
            HubTransaction.action == "deliver_attempt", HubTransaction.system == target,
            HubTransaction.entity_type == entity_type, HubTransaction.local_id == local_id)
            .order_by(HubTransaction.id.desc()).limit(20))
        return any(json.loads(row).get("content") == held for row in attempts)
