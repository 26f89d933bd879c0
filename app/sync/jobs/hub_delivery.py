"""The hub's deliveries as queue work (kind `hub_delivery`): one entity brought up to date in one system.

The hub's outbox (app/sync/hub/store.py) writes these operations in the same transaction as
the change they carry; a worker runs `delivery_operation`.
"""
from __future__ import annotations

from app.extensions import db
from app.models import SyncOperation
from app.sync.errors import PermanentError
from app.sync.hub import Hub


def delivery_operation(op: SyncOperation) -> dict:
    if not (op.entity_type and str(op.entity_id or "").isdigit() and op.target_system):
        raise PermanentError("This hub delivery names no entity or target system; it cannot be delivered.")
    entity_type, entity_id, target, op_id = op.entity_type, int(op.entity_id), op.target_system, op.id
    hub = Hub.from_app(db.session)
    try:
        return hub.deliver(entity_type, entity_id, target, operation_id=op_id)
    finally:
        hub.close()
