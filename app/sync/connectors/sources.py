"""The read-only sources' connectors (Google Classroom, Schoology), imported on first use.

Their modules build on HTTP clients the web pages never need, so the list in
connectors/__init__.py imports them here, lazily, the first time a pull asks for one;
`registry.create(name, credentials, http_session, settings)` then works.
"""
from __future__ import annotations

from app.models.canvas import SOURCE_NAMES
from app.sync.connectors import SOURCE_CONNECTORS, import_connectors
from app.sync.connectors.base import Connector, ConnectorRegistry, registry
from app.sync.errors import PermanentError


def register_source_connectors(target: ConnectorRegistry = registry) -> list[str]:
    """Import the source connector modules present in this deployment; returns the names registered."""
    return import_connectors(SOURCE_CONNECTORS, target)


def create_source_connector(system: str, credentials: dict, http_session, settings: dict,
                            target: ConnectorRegistry = registry) -> Connector:
    """The connector for one user's connection, built by its registered factory."""
    register_source_connectors(target)
    if system not in target.names():
        raise PermanentError(f"This installation has no {SOURCE_NAMES.get(system, system)} connector.")
    return target.create(system, credentials, http_session, settings)
