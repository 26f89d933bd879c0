"""The one interface every external system implements, and the registry the hub routes by.

A connector turns its system's world into `Change`s (`pull(since)` polls,
`parse_webhook(request)` verifies a push) and writes a `Change` outward (`apply`).
Adding a system is adding a connector: subclass `Connector`, give it a `name`, and
register its factory with `registry.register`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class Change:
    """One entity as a system now holds it (or its deletion), in system-neutral fields.

    `origin` is the system the change came from; the hub never sends it back there.
    `external_id` is the entity's id in that system; `parent_external_id` its container
    (a post's topic, a topic's course, an assignment's course).
    """

    origin: str
    entity_type: str
    external_id: str
    action: str = "upsert"  # upsert | delete
    data: dict[str, Any] = field(default_factory=dict)
    parent_external_id: str | None = None
    updated_at: datetime | None = None
    event_id: str | None = None  # the push's own id, for replay detection
    # Which instance of the system it came from, where ids are unique only within one (a Canvas's
    # host, see canvas_instance); "" for a system a deployment has one of. Set by the hub.
    instance: str = ""

    UPSERT: ClassVar[str] = "upsert"
    DELETE: ClassVar[str] = "delete"


@dataclass(frozen=True)
class Applied:
    """What `apply` did on the target side: its id for the entity, and its version if it has one."""

    external_id: str
    version: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class WebhookRejected(Exception):
    """A push that failed verification (bad or missing signature, unknown key): apply nothing."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


class Connector(ABC):
    name: ClassVar[str]
    # Read-only systems (Classroom, Schoology) are pulled from but never written to.
    writable: ClassVar[bool] = True

    @abstractmethod
    def pull(self, since: datetime | None) -> Iterator[Change]:
        """Changes since the given time (None: everything the system has)."""

    def apply(self, change: Change) -> Applied:
        """Write one change to this system; raise TransientError/PermanentError (app.sync.errors)."""
        raise NotImplementedError(f"{self.name} is read-only")

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> list[Change]:
        """Verify a push and turn it into changes; raise WebhookRejected when it does not verify."""
        raise WebhookRejected(f"{self.name} does not accept webhooks", status=404)

    def confirm_deleted(self, change: Change) -> bool:
        """Whether the system itself says the pushed deletion happened (asked before anything is
        deleted). A system whose signature covers the whole event needs no second word."""
        return True


ConnectorFactory = Callable[..., Connector]


class ConnectorRegistry:
    """Connector factories by system name; the hub asks it for every system but a change's origin."""

    def __init__(self) -> None:
        self._factories: dict[str, ConnectorFactory] = {}

    def register(self, name: str, factory: ConnectorFactory) -> None:
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, *args, **kwargs) -> Connector:
        try:
            factory = self._factories[name]
        except KeyError:
            raise KeyError(f"No connector registered for {name!r}") from None
        return factory(*args, **kwargs)

    def targets(self, origin: str | None) -> list[str]:
        """Every registered system except the change's origin (None: a local change goes to all)."""
        return [name for name in self.names() if name != origin]


registry = ConnectorRegistry()
