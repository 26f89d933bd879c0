"""Connectors: one per external system, behind the interface in base.py."""
from app.sync.connectors.base import Applied, Change, Connector, ConnectorRegistry, WebhookRejected, registry

__all__ = ["Applied", "Change", "Connector", "ConnectorRegistry", "WebhookRejected", "registry"]
