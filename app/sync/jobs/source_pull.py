"""Pulls of read-only sources (Google Classroom, Schoology) as queue operations of kind "source_pull".

A request (Settings' "Pull now", saving a connection, the scheduler) queues one operation
per connection; a second request while one waits or runs joins it (dedupe key). A worker
builds the connection's connector over one pooled HTTP session, stores what it yields
(app/sync/sources/store.py) and writes the outcome on the connection row in plain words.
Bad credentials fail the operation at once (PermanentError); throttling or an outage
is retried with the queue's backoff (TransientError), the courses stored so far kept.

Full or incremental: the first pull, and one every SOURCE_FULL_PULL_HOURS, is full
(`since=None`: the connector sends everything and its snapshot markers, so deletions
are found); the others pass `since` = the last successful pull's start minus a margin.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from flask import current_app

from app.crypto import TokenDecryptError
from app.extensions import db
from app.models import SyncOperation, UserConnection
from app.models.canvas import CLASSROOM, SCHOOLOGY, SOURCE_NAMES
from app.models.types import utcnow
from app.services.http import RequestStats, build_session
from app.services.oauth_client import OAuthProvider
from app.sync import queue
from app.sync.connectors.sources import create_source_connector
from app.sync.errors import TRANSIENT_TYPES, OperationError, PermanentError, TransientError, classify, describe
from app.sync.sources.store import SourceStore

log = logging.getLogger(__name__)

SOURCE_PULL = "source_pull"
PRIORITY = {"button": 10, "settings": 10, "admin": 10, "cli": 5}
# The source's clock and ours differ: an incremental pull re-reads a margin.
SINCE_OVERLAP = timedelta(minutes=5)


def dedupe_key(connection_id: int) -> str:
    return f"{SOURCE_PULL}:connection:{connection_id}"


def request_pull(connection: UserConnection, *, trigger: str = "button", full: bool = False,
                 notify: bool = True) -> tuple[SyncOperation, bool]:
    """Queue a pull of the connection; returns (operation, joined an open one)."""
    return queue.submit(
        db.session, SOURCE_PULL, entity_type="user_connection", entity_id=connection.id, user_id=connection.user_id,
        source_system=connection.system, target_system="local", priority=PRIORITY.get(trigger, 0),
        payload={"connection_id": connection.id, "full": full, "trigger": trigger},
        dedupe_key=dedupe_key(connection.id), policy=queue.RetryPolicy.from_config(current_app.config),
        notify=notify)


def source_pull_operation(op: SyncOperation) -> dict:
    payload = op.payload
    connection = db.session.get(UserConnection, payload["connection_id"])
    if connection is None or not connection.connected:
        return {"connection_id": payload["connection_id"], "skipped": "the connection was removed"}
    return pull_connection(connection, full=bool(payload.get("full")))


def settings_for(connection: UserConnection, config) -> dict:
    """What a connector's factory gets beside the credentials: its saved state and the knobs
    (names as app/sync/connectors/classroom.py and schoology.py read them)."""
    settings = {"state": connection.state, "timeout": config["SOURCE_TIMEOUT_S"]}
    if connection.system == CLASSROOM:
        settings["classroom_url"] = connection.base_url or config["CLASSROOM_API_URL"]
        google = OAuthProvider.google(config)
        if google.configured:
            settings["oauth_provider"] = google
    elif connection.system == SCHOOLOGY:
        settings["include_past"] = bool(config.get("SCHOOLOGY_INCLUDE_PAST", False))
    return settings


def credentials_for(connection: UserConnection) -> dict:
    credentials = dict(connection.credentials)
    if connection.system == SCHOOLOGY:
        credentials["api_url"] = connection.base_url
    return credentials


def http_session_for(system: str, stats: RequestStats, config):
    """A session per system (connection retries; status retries and throttling are the shared
    client's, so Schoology's OAuth 1 signature is redone on each attempt)."""
    if system == SCHOOLOGY:
        from app.services.schoology_api_service import SchoologyAPIService

        return SchoologyAPIService.build_session(stats=stats)
    if system == CLASSROOM:
        from app.services.classroom_api_service import build_classroom_session

        return build_classroom_session(stats=stats, total_retries=config["SOURCE_MAX_RETRIES"])
    return build_session(stats=stats, total_retries=config["SOURCE_MAX_RETRIES"])


def pull_connection(connection: UserConnection, *, full: bool = False) -> dict:
    """Pull one connection now (in a worker); returns the counts. Raises OperationErrors for the queue."""
    config = current_app.config
    label = SOURCE_NAMES.get(connection.system, connection.system)
    started = utcnow()
    full_every = timedelta(hours=config["SOURCE_FULL_PULL_HOURS"])
    full = (full or connection.last_success_at is None or connection.last_full_pull_at is None
            or connection.last_full_pull_at <= started - full_every)
    since = None if full else connection.last_success_at - SINCE_OVERLAP
    connection.last_pull_at = started
    db.session.commit()
    connection_id, user_id, system = connection.id, connection.user_id, connection.system
    log.info("event=source_pull_start connection_id=%s user_id=%s system=%s kind=%s", connection_id, user_id, system,
             "full" if full else "incremental")

    stats = RequestStats()
    stats.limit_run(config.get("SYNC_MAX_RUN_SECONDS"))
    http = http_session_for(system, stats, config)
    connector = None
    try:
        connector = create_source_connector(system, credentials_for(connection), http,
                                            settings_for(connection, config))
        result = SourceStore(db.session, user_id, system, now=started).store(connector.pull(since))
    except Exception as exc:  # noqa: BLE001 - recorded on the connection, then handed to the queue
        db.session.rollback()
        message = _plain_error(exc, label)
        permanent = isinstance(exc, TokenDecryptError) or classify(exc) == "permanent"
        _record_failure(connection_id, message, permanent=permanent)
        log.warning("event=source_pull_failed connection_id=%s system=%s error_class=%s exception=%s",
                    connection_id, system, "permanent" if permanent else "transient", type(exc).__name__)
        if isinstance(exc, OperationError):
            raise
        raise (PermanentError if permanent else TransientError)(message) from exc
    finally:
        http.close()
        token_source = getattr(getattr(connector, "client", None), "token_source", None)
        if token_source is not None:
            token_source.session.close()

    connection = db.session.get(UserConnection, connection_id)
    refreshed = token_source.state() if token_source is not None else None
    if refreshed:  # Google's new access token (and the refresh token, kept) for the next pull
        connection.set_credentials({**connection.credentials, **refreshed}, hint_from="refresh_token")
    connection.status, connection.last_error = UserConnection.OK, None
    connection.last_success_at = started
    if full:
        connection.last_full_pull_at = started
    new_state = getattr(connector, "state", None)
    if isinstance(new_state, dict):
        connection.state = {**connection.state, **new_state}
    summary = {"kind": "full" if full else "incremental", **result.as_dict(), **stats.as_dict(),
               "summary": result.summary()}
    connection.last_counts_json = json.dumps(summary)
    db.session.commit()
    log.info("event=source_pull_end connection_id=%s system=%s kind=%s changes=%d skipped=%d requests=%d",
             connection_id, system, summary["kind"], result.changes, result.skipped, stats.requests)
    return {"connection_id": connection_id, "system": system, **summary}


def _plain_error(exc: BaseException, label: str) -> str:
    if isinstance(exc, TokenDecryptError):
        return f"The saved {label} credentials cannot be decrypted (the encryption key changed). Save them again."
    if isinstance(exc, OperationError):
        return describe(exc)
    if isinstance(exc, TRANSIENT_TYPES):
        return f"{label} could not be reached ({type(exc).__name__}). The pull will be tried again."
    return f"The {label} pull failed unexpectedly ({type(exc).__name__})."


def _record_failure(connection_id: int, message: str, *, permanent: bool) -> None:
    connection = db.session.get(UserConnection, connection_id)
    if connection is None:
        return
    connection.status = UserConnection.FAILED if permanent else UserConnection.RETRYING
    connection.last_error = message[:2000]
    db.session.commit()
