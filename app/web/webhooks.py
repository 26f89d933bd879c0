"""Pushes from other systems: POST /webhooks/discourse (HMAC-signed), POST /webhooks/canvas (Live Events JWT).

Machine endpoints: no session and no CSRF token (the sender signs the raw body instead).
The hub verifies the signature through the system's connector and applies each event
once (its id is recorded in the same transaction as the change). Answers carry no
reason: a refused push gets only its status and a fixed sentence.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from app.extensions import csrf, db
from app.sync.connectors.base import WebhookRejected
from app.sync import queue
from app.sync.hub import Hub

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)

# Ingest outcomes that queue deliveries to the other systems.
CHANGED = ("created", "updated", "conflict")
# A Discourse post payload is a few KB and Live Events cut text at 8 KB: 1 MB is generous.
MAX_BODY_BYTES = 1024 * 1024
REFUSED = {400: "The push could not be read.", 401: "The push was not signed by a sender we trust.",
           413: "The push is too large.", 503: "Pushes from this system are not set up here."}


@bp.route("/discourse", methods=["POST"])
def discourse():
    return _receive("discourse")


@bp.route("/canvas", methods=["POST"])
def canvas():
    return _receive("canvas")


def _receive(system: str):
    limit = min(MAX_BODY_BYTES, current_app.config.get("MAX_CONTENT_LENGTH") or MAX_BODY_BYTES)
    if (request.content_length or 0) > limit:
        return _refused(system, 413, "body too large")  # refused before a byte of it is read
    body = _read_at_most(request.stream, limit)  # the raw bytes the signature covers, never form-parsed
    if body is None:
        return _refused(system, 413, "body too large")
    hub = Hub.from_app(db.session)
    try:
        counts = hub.receive_webhook(system, request.headers, body)
    except WebhookRejected as exc:
        return _refused(system, exc.status if exc.status in REFUSED else 401, exc.message)
    finally:
        hub.close()
    changed = sum(counts.get(status, 0) for status in CHANGED)
    if changed:  # the change is written and its deliveries queued: wake a worker now, not at the next tick
        queue.wake(changed)
    log.info("event=webhook_received system=%s event_id=%s outcome=%s", system,
             request.headers.get("X-Discourse-Event-Id", "-"), ",".join(f"{k}:{v}" for k, v in sorted(counts.items())))
    return jsonify({"ok": True, "applied": counts})


def _read_at_most(stream, limit: int) -> bytes | None:
    """The body, or None once it runs past `limit`: a chunked body declares no length, and the
    server hands it over unlimited (wsgi.input_terminated), so it is read in pieces and dropped."""
    parts, size = [], 0
    while True:
        piece = stream.read(min(64 * 1024, limit + 1 - size))
        if not piece:
            return b"".join(parts)
        size += len(piece)
        if size > limit:
            return None
        parts.append(piece)


def _refused(system: str, status: int, reason: str):
    # The reason goes to the log only: the sender (or a prober) learns nothing from the answer.
    log.warning("event=webhook_refused system=%s status=%s reason=%r", system, status, reason)
    response = jsonify({"error": REFUSED[status]})
    response.status_code = status
    return response
