"""The read-only sources' connectors (Google Classroom, Schoology), registered on first use.

Their modules build on HTTP clients the web pages never need, so they are imported
here, lazily, the first time a pull asks for one. A module either registers itself
at import (`registry.register("classroom", factory)`) or offers `create_<name>_connector`
(or `create_connector`);
either way `registry.create(name, credentials, http_session, settings)` then works.
"""
from __future__ import annotations

import importlib
import logging

from app.models.canvas import SOURCE_NAMES
from app.sync.connectors.base import Connector, ConnectorRegistry, registry
from app.sync.errors import PermanentError

log = logging.getLogger(__name__)

SOURCE_MODULES = {
    "classroom": "app.sync.connectors.classroom",
    "schoology": "app.sync.connectors.schoology",
}


def register_source_connectors(target: ConnectorRegistry = registry) -> list[str]:
    """Import the source connector modules present in this deployment; returns the names registered."""
    for name, module_name in SOURCE_MODULES.items():
        if name in target.names():
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but a dependency of it is missing
                raise
            log.info("event=connector_absent name=%s", name)
            continue
        if name not in target.names():  # imported earlier (it registered elsewhere) or never registers
            factory = getattr(module, f"create_{name}_connector", None) or getattr(module, "create_connector", None)
            if callable(factory):
                target.register(name, factory)
    return [name for name in SOURCE_MODULES if name in target.names()]


def create_source_connector(system: str, credentials: dict, http_session, settings: dict,
                            target: ConnectorRegistry = registry) -> Connector:
    """The connector for one user's connection, built by its registered factory."""
    register_source_connectors(target)
    if system not in target.names():
        raise PermanentError(f"This installation has no {SOURCE_NAMES.get(system, system)} connector.")
    return target.create(system, credentials, http_session, settings)
