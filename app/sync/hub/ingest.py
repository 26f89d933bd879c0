"""The hub's inbound half: ingesting changes, pulls and webhooks.

A change is written locally, its version vector bumped and deliveries queued, in one
transaction (through the store); concurrent versions go to the resolver.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.models import DiscussionPost, DiscussionTopic, HubEntityMap, HubWebhookEvent
from app.models.types import utcnow
from app.sync.connectors.base import Change, Connector, WebhookRejected
from app.sync.connectors.canvas import LIVE_EVENT_INSTANCE
from app.sync.errors import PermanentError, TransientError
from app.sync.hub.conflicts import FIRST_SEEN_CHANGED, WRITER_CLOCK, ConflictResolver, Version
from app.sync.hub.connectors import ConnectorProvider
from app.sync.hub.entities import (ENTITY_TYPES, SNAPSHOT, TOPIC, UNDATED_EDITS, IngestResult, content,
                                   entity_fields, model_for, parse_hub_ref)
from app.sync.hub.store import HubStore
from app.sync.hub.versions import Order, VersionVector
from app.sync.sanitize import sanitize_html

log = logging.getLogger("app.sync.hub")  # the hub's one logger


class Ingest:
    def __init__(self, store: HubStore, connectors: ConnectorProvider, resolver: ConflictResolver):
        self.store = store
        self.session = store.session
        self.connectors = connectors
        self.resolver = resolver

    def ingest(self, change: Change, *, operation_id: int | None = None) -> IngestResult:
        """Write one inbound change locally and queue it for the other systems (one transaction)."""
        if change.entity_type not in ENTITY_TYPES:
            return IngestResult("ignored", change.entity_type, reason="not a discussion")
        with self.store.atomic():
            return self.ingest_in_transaction(change, operation_id)

    def ingest_in_transaction(self, change: Change, operation_id: int | None) -> IngestResult:
        entity_type, origin = change.entity_type, change.origin
        deleted = change.action == Change.DELETE or bool(change.data.get("deleted"))
        mapping = self.store.mapping(origin, entity_type, change.external_id, change.instance)
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
                                   instance=change.instance, external_id=str(change.external_id),
                                   synced_vector_json="{}")
            self.session.add(mapping)
        elif self._same_as_synced(mapping, change, deleted):
            return IngestResult("unchanged", entity_type, mapping.local_id)
        local = self.session.get(model_for(entity_type), mapping.local_id)
        vector = self.store.vector(entity_type, local.id)
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
            self.store.write(entity_type, local, incoming, origin, change.updated_at)
            self.store.set_vector(entity_type, local.id, new_vector)
            self._remember(mapping, change, new_vector)
            targets = self.store.queue_deliveries(entity_type, local, exclude=origin)
            self.store.log("ingest", origin, entity_type, local.id,
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
        # An import is the first version the hub holds, not an edit: it is dated when it was written
        # (Canvas topics carry no edit time, so their pull time would read "edited" on the page).
        if entity_type == TOPIC:
            link = self.store.link_of_container(origin, str(change.parent_external_id), change.instance)
            if link is None:
                return IngestResult("ignored", entity_type, reason="not in a linked course")
            local = DiscussionTopic(course_id=link.course_id, title=incoming["title"], body_html=incoming["body_html"],
                                    author_name=incoming.get("author_name"), origin_system=origin,
                                    updated_by_system=origin, created_at=created_at,
                                    updated_at=created_at)
        else:
            topic_map = self.store.mapping(origin, TOPIC, str(change.parent_external_id), change.instance)
            if topic_map is None:
                return IngestResult("ignored", entity_type, reason="its topic is not synced")
            local = DiscussionPost(topic_id=topic_map.local_id, body_html=incoming["body_html"],
                                   author_name=incoming.get("author_name"), origin_system=origin,
                                   updated_by_system=origin, created_at=created_at,
                                   updated_at=created_at)
        self.session.add(local)
        self.session.flush()
        vector = VersionVector().increment(origin)
        self.store.set_vector(entity_type, local.id, vector)
        mapping = HubEntityMap(entity_type=entity_type, local_id=local.id, system=origin, instance=change.instance,
                               external_id=str(change.external_id))
        self.session.add(mapping)
        self._remember(mapping, change, vector)
        targets = self.store.queue_deliveries(entity_type, local, exclude=origin)
        self.store.log("ingest", origin, entity_type, local.id,
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
        self.store.set_vector(entity_type, local.id, new_vector)
        targets = self.store.queue_deliveries(entity_type, local, exclude=change.origin)
        self.store.log("ingest", change.origin, entity_type, local.id, {"deleted": True, "queued_for": targets},
                  operation_id)
        return IngestResult("updated", entity_type, local.id, tuple(targets))

    def _resolve(self, change: Change, local, mapping: HubEntityMap, vector: VersionVector,
                 remote_vector: VersionVector, incoming: dict, operation_id: int | None) -> IngestResult:
        """Concurrent versions: the configured strategy decides, the decision is recorded."""
        entity_type, origin = change.entity_type, change.origin
        with self.session.begin_nested():
            # Each side dated on its writer's clock; where the system keeps none, when the change was first seen.
            local_clock = FIRST_SEEN_CHANGED if (local.updated_by_system, entity_type) in UNDATED_EDITS else WRITER_CLOCK
            local_version = Version(local.updated_by_system, content(entity_type, entity_fields(entity_type, local)),
                                    local.updated_at, local_clock)
            remote_version = Version(origin, content(entity_type, incoming), change.updated_at or utcnow(),
                                     WRITER_CLOCK if change.updated_at else FIRST_SEEN_CHANGED)
            base = self.store.held_content(entity_type, mapping)
            resolution = self.resolver.resolve(entity_type, local_version, remote_version, base)
            conflict = self.resolver.record(self.session, entity_type, local.id, local_version, remote_version,
                                            base, resolution)
            new_vector = vector.merge(remote_vector)
            writer = resolution.winner or "hub"
            self.store.write(entity_type, local, {**resolution.fields, "author_name": local.author_name}, writer,
                        max(local_version.updated_at or utcnow(), remote_version.updated_at))
            self.store.set_vector(entity_type, local.id, new_vector)
            self._remember(mapping, change, remote_vector)  # the origin holds its own version
            # Every system, the origin too: the result may differ from what each holds
            # (a system already holding it is not written to, see deliver).
            targets = self.store.queue_deliveries(entity_type, local, exclude=None)
        self.store.log("resolve", origin, entity_type, local.id,
                  {"conflict_id": conflict.id, "rule": resolution.rule, "winner": resolution.winner,
                   "result": resolution.fields, "vector": new_vector.as_dict(), "queued_for": targets}, operation_id)
        log.info("event=hub_conflict entity=%s:%s rule=%s winner=%s", entity_type, local.id, resolution.rule,
                 resolution.winner)
        return IngestResult("conflict", entity_type, local.id, tuple(targets))

    def _by_hub_ref(self, change: Change) -> tuple[Any, bool]:
        """(the local entity the change's hub reference names or None, whether it is mapped there already)."""
        parsed = parse_hub_ref(change.data.get("hub_ref"))
        if parsed is None or parsed[0] != change.entity_type:
            return None, False
        local = self.session.get(model_for(parsed[0]), parsed[1])
        if local is None:
            return None, False
        # Only a copy in the instance the entity's course is linked to can be ours (a marker is just text).
        link = self.store.link(self.store.course_of(parsed[0], local).id, change.origin)
        if link is None or link.instance != change.instance:
            return None, False
        return local, self.store.mapping_for(parsed[0], parsed[1], change.origin) is not None

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
        raw = change.data.get("raw")
        if raw is not None and mapping.last_raw is not None:
            # The system's own source text: its rendering changes after the fact (link attributes,
            # previews) with no one editing, and that must not read as an edit.
            if raw != mapping.last_raw:
                return False
        elif mapping.last_body is None or (change.data.get("body_html") or "") != mapping.last_body:
            return False
        return change.entity_type != TOPIC or (change.data.get("title") or "") == (mapping.last_title or "")

    def _remember(self, mapping: HubEntityMap, change: Change, vector: VersionVector) -> None:
        """What this system now holds, as it reported it, and the local version it reflects."""
        data = change.data
        mapping.last_version = None if data.get("version") is None else str(data["version"])[:64]
        mapping.last_body = data.get("body_html") or ""
        mapping.last_raw = data.get("raw")
        if change.entity_type == TOPIC:
            mapping.last_title = (data.get("title") or "")[:500]
        mapping.last_deleted = change.action == Change.DELETE or bool(data.get("deleted"))
        mapping.synced_vector_json = vector.to_json()
        mapping.synced_at = utcnow()

    # -- pulling and pushes ----------------------------------------------------------------

    def pull(self, system: str, *, user_id: int | None = None, since: datetime | None = None,
             operation_id: int | None = None) -> dict[str, int]:
        """Poll one system (as one scope) and ingest what it reports; counts by outcome."""
        counts: dict[str, int] = {}
        connector = self.connectors.get(system, user_id)
        instance = self.store.instance_of(system, user_id)
        for change in connector.pull(since):
            change = replace(change, instance=instance)
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
        link = self.store.link_of_container(snapshot.origin, snapshot.external_id, snapshot.instance)
        if link is None:
            return []
        stmt = (select(HubEntityMap).join(DiscussionTopic, DiscussionTopic.id == HubEntityMap.local_id)
                .where(HubEntityMap.system == snapshot.origin, HubEntityMap.instance == snapshot.instance,
                       HubEntityMap.entity_type == TOPIC,
                       HubEntityMap.last_deleted.is_(False), DiscussionTopic.course_id == link.course_id))
        if snapshot.updated_at is not None:
            stmt = stmt.where(HubEntityMap.synced_at < snapshot.updated_at)
        gone = [Change(origin=snapshot.origin, entity_type=TOPIC, external_id=m.external_id, action=Change.DELETE,
                       parent_external_id=snapshot.external_id, updated_at=snapshot.updated_at,
                       data={"deleted": True}, instance=snapshot.instance)
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
        changes, unconfirmed = self._confirmed(connector, changes)
        counts: dict[str, int] = {"unconfirmed": unconfirmed} if unconfirmed else {}
        # Seen by id and by the hash of the signed body: an event id is not always signed
        # (Discourse's header), so a replayed body under a fresh id is still a replay.
        body_key = f"body:{hashlib.sha256(body).hexdigest()}"
        with self.store.atomic():
            fresh = []
            keys = [c.event_id for c in changes if c.event_id] + ([body_key] if changes else [])
            for event_id in dict.fromkeys(keys):
                try:
                    with self.session.begin_nested():
                        self.session.add(HubWebhookEvent(system=system, event_id=str(event_id)[:255],
                                                         received_at=utcnow()))
                        self.session.flush()
                    fresh.append(event_id)
                except IntegrityError:
                    pass  # seen before: a replay
            body_seen = bool(changes) and body_key not in fresh
            for change in changes:
                instance = self._instance_of_push(change)
                if body_seen or (change.event_id and change.event_id not in fresh):
                    status = "replayed"
                elif change.entity_type not in ENTITY_TYPES:
                    status = "ignored"
                elif instance is None:
                    status = "foreign"
                elif self._older_than_held(replace(change, instance=instance)):
                    status = "stale"
                else:
                    status = self.ingest_in_transaction(replace(change, instance=instance), None).status
                counts[status] = counts.get(status, 0) + 1
        return counts

    def _instance_of_push(self, change: Change) -> str | None:
        """The instance a pushed change is keyed under: the linked one its signed claims name
        (a Live Event's host), or None when they name none linked here (it must land nowhere)."""
        if LIVE_EVENT_INSTANCE not in change.data:
            return self.store.instance_of(change.origin, None)
        return self.store.instance_named(change.origin, change.data[LIVE_EVENT_INSTANCE])

    def _older_than_held(self, change: Change) -> bool:
        """A pushed version older than the one the hub holds from that system (an old signed body
        sent again): applying it would revert a later edit. Only a numeric edit counter (Discourse's
        post version) orders versions; others are never called older."""
        mapping = self.store.mapping(change.origin, change.entity_type, change.external_id, change.instance)
        if mapping is None or mapping.last_version is None:
            return False
        try:
            return int(change.data.get("version")) < int(mapping.last_version)
        except (TypeError, ValueError):
            return False

    @staticmethod
    def _confirmed(connector: Connector, changes: list[Change]) -> tuple[list[Change], int]:
        """The pushed changes without the deletions the system does not confirm (asked before any transaction)."""
        kept, dropped = [], 0
        for change in changes:
            deleting = change.action == Change.DELETE or bool(change.data.get("deleted"))
            if deleting and not connector.confirm_deleted(change):
                log.warning("event=hub_webhook_delete_unconfirmed system=%s entity_type=%s external_id=%s",
                            change.origin, change.entity_type, change.external_id)
                dropped += 1
                continue
            kept.append(change)
        return kept, dropped

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
