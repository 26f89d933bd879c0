"""Connectors: one per external system, behind the interface in base.py, registered from one list.

`CONNECTOR_MODULES` names every connector module, as Redash lists its query runners; importing
one registers its factory with `registry`. The hub's connectors are imported at app start
(`import_connectors(HUB_CONNECTORS)`); the read-only sources build on HTTP clients the web
pages never need, so they are imported on a pull's first use (connectors/sources.py).
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

from app.sync.connectors.base import Applied, Change, Connector, ConnectorRegistry, WebhookRejected, registry

__all__ = ["CONNECTOR_MODULES", "HUB_CONNECTORS", "SOURCE_CONNECTORS", "Applied", "Change", "Connector",
           "ConnectorRegistry", "WebhookRejected", "import_connectors", "registry"]

log = logging.getLogger(__name__)

CONNECTOR_MODULES = {
    "canvas": "app.sync.connectors.canvas",
    "discourse": "app.sync.connectors.discourse",
    "classroom": "app.sync.connectors.classroom",
    "schoology": "app.sync.connectors.schoology",
}
HUB_CONNECTORS = ("canvas", "discourse")
SOURCE_CONNECTORS = ("classroom", "schoology")


def import_connectors(names: Iterable[str], target: ConnectorRegistry = registry) -> list[str]:
    """Import the named connector modules present in this deployment; returns the names registered.

    A module registers itself in the app's registry on import; another registry gets the
    module's `create_<name>_connector`.
    """
    names = list(names)
    for name in names:
        if name in target.names():
            continue
        module_name = CONNECTOR_MODULES[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but a dependency of it is missing
                raise
            log.info("event=connector_absent name=%s", name)
            continue
        if name not in target.names():
            factory = getattr(module, f"create_{name}_connector", None)
            if callable(factory):
                target.register(name, factory)
    return [name for name in names if name in target.names()]
