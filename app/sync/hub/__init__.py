"""The hub: discussions kept in step between Canvas, Discourse (any connector) and Canvas Flow.

`Hub` (facade.py) is the entry point; the vocabulary its callers share is in entities.py.
"""
from app.sync.hub.entities import ENTITY_TYPES, HUB_DELIVERY, HUB_PULL, LOCAL, POST, TOPIC, IngestResult
from app.sync.hub.facade import Hub

__all__ = ["ENTITY_TYPES", "HUB_DELIVERY", "HUB_PULL", "LOCAL", "POST", "TOPIC", "Hub", "IngestResult"]
