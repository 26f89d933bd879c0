"""The hub: discussions kept in step between Canvas, Discourse (any connector) and Canvas Flow.

Flow of one change:

* `ingest(change)` (from a pull, a webhook, a delivery conflict) writes the local copy,
  bumps the entity's version vector and, in the SAME transaction, queues a
  `hub_delivery` operation for every other system the course is linked to (a
  transactional outbox), never for the change's origin. A change equal to what the hub
  last synced with that system is an echo of our own write and is ignored.
* A local change (`create_topic`, `post_reply`, `edit_topic`, `edit_post`: the web UI)
  is queued for every system.
* `deliver(...)` (the `hub_delivery` job, app/sync/jobs/hub_delivery.py) builds the outbound Change (target id from
  the mapping, parent from the course link or the topic's mapping), calls
  `connector.apply`, and records the mapping and the version it delivered. A target that
  already holds the content is not written to.
* Concurrent versions (vectors neither before nor after each other), found on ingest or
  as a ConflictError from the target, go to the resolver (app/sync/hub/conflicts.py); every
  resolution is recorded.

Every operation is one transaction (`HUB_ISOLATION_LEVEL` sets its isolation level),
nested work runs in savepoints, and each writes a `hub_transaction` row saying what it
changed. HTTP calls to other systems happen between transactions, never inside one.

Version vectors count changes per writer: "canvas", "discourse", ... and "local" (Canvas
Flow's own web UI). Each mapping stores the vector its system's copy reflects; the copy
is behind (a delivery is due) while the entity's vector dominates it.

Layout: `Hub` (this module) is the facade the web layer, the jobs and the CLI use. It builds
one `HubStore` (store.py: transactions, mappings, vectors, the outbox, the log) and hands
it explicitly to its collaborators: `Ingest` (ingest.py: inbound changes, pulls, webhooks),
`Delivery` (delivery.py: outbound), `LocalEdits` (local.py: web UI changes, course links)
and `ThreadReader` (read.py: threads, the conflict log). entities.py holds the vocabulary
they share; connectors.py builds each system's connector for a scope.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy.orm import Session

from app.models import DiscussionPost, DiscussionTopic, HubCourseLink
from app.sync import queue
from app.sync.connectors.base import Change, ConnectorRegistry
from app.sync.connectors.base import registry as default_registry
from app.sync.errors import PermanentError
from app.sync.hub.conflicts import ConflictResolver
from app.sync.hub.connectors import ConnectorProvider
from app.sync.hub.delivery import Delivery
from app.sync.hub.entities import IngestResult, ThreadTopic
from app.sync.hub.ingest import Ingest
from app.sync.hub.local import LocalEdits
from app.sync.hub.read import ThreadReader
from app.sync.hub.store import HubStore
from app.sync.hub.versions import VersionVector


class Hub:
    def __init__(self, session: Session, *, config: Mapping | None = None, registry: ConnectorRegistry | None = None,
                 connectors: ConnectorProvider | None = None):
        self.session = session
        self.config = config if config is not None else current_app.config
        self.registry = registry or default_registry
        self.connectors = connectors or ConnectorProvider(session, self.registry, self.config)
        self.resolver = ConflictResolver.from_config(self.config)
        self.policy = queue.RetryPolicy.from_config(self.config)
        configured = self.config.get("HUB_SYSTEMS") or ("canvas", "discourse")
        if isinstance(configured, str):
            configured = [s.strip() for s in configured.split(",") if s.strip()]
        self.systems = [s for s in configured if s in self.registry.names()]
        self.store = HubStore(session, systems=self.systems, policy=self.policy,
                              isolation_level=self.config.get("HUB_ISOLATION_LEVEL") or None)
        self.ingestion = Ingest(self.store, self.connectors, self.resolver)
        self.delivery = Delivery(self.store, self.connectors, self.ingestion)
        self.local = LocalEdits(self.store)
        self.reader = ThreadReader(self.store)

    @classmethod
    def from_app(cls, session: Session, app: Flask | None = None) -> Hub:
        app = app or current_app
        return cls(session, config=app.config, registry=app.extensions.get("hub_registry"))

    def close(self) -> None:
        self.connectors.close()

    def atomic(self):
        return self.store.atomic()

    def vector(self, entity_type: str, local_id: int) -> VersionVector:
        return self.store.vector(entity_type, local_id)

    # -- inbound -------------------------------------------------------------------------

    def ingest(self, change: Change, *, operation_id: int | None = None) -> IngestResult:
        return self.ingestion.ingest(change, operation_id=operation_id)

    def pull(self, system: str, *, user_id: int | None = None, since: datetime | None = None,
             operation_id: int | None = None) -> dict[str, int]:
        return self.ingestion.pull(system, user_id=user_id, since=since, operation_id=operation_id)

    def receive_webhook(self, system: str, headers: Mapping[str, str], body: bytes) -> dict[str, int]:
        return self.ingestion.receive_webhook(system, headers, body)

    # -- outbound ------------------------------------------------------------------------

    def deliver(self, entity_type: str, local_id: int, target: str, *, operation_id: int | None = None) -> dict:
        return self.delivery.deliver(entity_type, local_id, target, operation_id=operation_id)

    # -- local changes and links -----------------------------------------------------------

    def create_topic(self, course_id: int, title: str, body_html: str, *, author_name: str | None = None,
                     author_user_id: int | None = None) -> DiscussionTopic:
        return self.local.create_topic(course_id, title, body_html, author_name=author_name,
                                       author_user_id=author_user_id)

    def post_reply(self, topic_id: int, body_html: str, *, author_name: str | None = None,
                   author_user_id: int | None = None) -> DiscussionPost:
        return self.local.post_reply(topic_id, body_html, author_name=author_name, author_user_id=author_user_id)

    def edit_topic(self, topic_id: int, *, title: str | None = None, body_html: str | None = None) -> DiscussionTopic:
        return self.local.edit_topic(topic_id, title=title, body_html=body_html)

    def edit_post(self, post_id: int, body_html: str) -> DiscussionPost:
        return self.local.edit_post(post_id, body_html)

    def link_course(self, course_id: int, discourse_category_id: int | str, *,
                    user_id: int | None = None) -> list[HubCourseLink]:
        """Link a course to a Discourse category (and to itself in Canvas): its topics sync both ways."""
        return self.link_containers(course_id, {"discourse": str(discourse_category_id)}, user_id=user_id)

    def link_containers(self, course_id: int, containers: Mapping[str, str], *,
                        user_id: int | None = None) -> list[HubCourseLink]:
        """Refused for a system this installation cannot reach (check_linkable); otherwise linked,
        and what the course already holds is queued for it."""
        self.check_linkable(containers)
        return self.local.link_containers(course_id, containers, user_id=user_id)

    def check_linkable(self, systems: Iterable[str]) -> None:
        """ValueError, in plain words, for a system this installation cannot reach: nothing linked
        to it would ever be delivered."""
        for system in systems:
            if system not in self.systems:
                raise ValueError(f"This installation does not sync discussions with {system}.")
            try:
                self.connectors.check(system)
            except PermanentError as exc:
                raise ValueError(f"Not linked: {exc.message}") from None

    def unlink_course(self, course_id: int) -> list[str]:
        return self.local.unlink_course(course_id)

    # -- reading -------------------------------------------------------------------------

    def course_thread(self, course_id: int) -> list[ThreadTopic]:
        return self.reader.course_thread(course_id)

    def conflicts(self, *, limit: int = 50, entity_type: str | None = None,
                  local_id: int | None = None) -> list[dict]:
        return self.reader.conflicts(limit=limit, entity_type=entity_type, local_id=local_id)
