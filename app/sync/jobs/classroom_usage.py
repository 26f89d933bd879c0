"""Google Classroom usage by date as queue operations of kind "classroom_usage".

The scheduler queues one per Classroom connection once CLASSROOM_SCHOOL_YEAR_START is set
(scheduler.run_due_usage_pulls). A run is a bounded catch-up: at most
CLASSROOM_USAGE_WINDOWS_PER_RUN windows (app/sync/sources/classroom_usage.py), so a long gap is
fetched over several runs; while it is not caught up the next tick queues the next run,
then one a day (CLASSROOM_USAGE_HOURS) picks up the dates Google published since.

The outcome is kept under the connection's state as "usage" ({"at", "ok", "message",
"caught_up", "through"}) and shown in Settings beside the pull's status, in plain words:
a teacher's token that the Admin Reports API refuses must not mark the Classroom
connection itself failed (its pulls work).
"""
from __future__ import annotations

import logging

from flask import current_app

from app.crypto import TokenDecryptError
from app.extensions import db
from app.models import SyncOperation, UserConnection
from app.models.canvas import CLASSROOM
from app.models.types import utcnow
from app.services.classroom_api_service import ClassroomAPIService, build_classroom_session
from app.services.http import RequestStats
from app.sync import queue
from app.sync.sources.classroom_usage import ClassroomUsageSync, UsageSettings
from app.sync.errors import OperationError, PermanentError, TransientError, describe

log = logging.getLogger(__name__)

CLASSROOM_USAGE = "classroom_usage"
STATE_KEY = "usage"


def dedupe_key(connection_id: int) -> str:
    return f"{CLASSROOM_USAGE}:connection:{connection_id}"


def usage_configured(config) -> bool:
    return bool(config.get("CLASSROOM_SCHOOL_YEAR_START"))


def request_usage_pull(connection: UserConnection, *, trigger: str = "schedule",
                       notify: bool = True) -> tuple[SyncOperation, bool]:
    """Queue a usage run of the connection; returns (operation, joined an open one)."""
    return queue.submit(
        db.session, CLASSROOM_USAGE, entity_type="user_connection", entity_id=connection.id,
        user_id=connection.user_id, source_system=CLASSROOM, target_system="local",
        payload={"connection_id": connection.id, "trigger": trigger}, dedupe_key=dedupe_key(connection.id),
        policy=queue.RetryPolicy.from_config(current_app.config), notify=notify)


def classroom_usage_operation(op: SyncOperation) -> dict:
    connection = db.session.get(UserConnection, op.payload["connection_id"])
    if connection is None or not connection.connected or connection.system != CLASSROOM:
        return {"connection_id": op.payload["connection_id"], "skipped": "the connection was removed"}
    return run_usage(connection)


def run_usage(connection: UserConnection) -> dict:
    """One bounded catch-up for the connection; raises OperationErrors for the queue."""
    config = current_app.config
    connection_id, user_id = connection.id, connection.user_id
    started = utcnow()
    stats = RequestStats()
    http = build_classroom_session(stats=stats, total_retries=config["SOURCE_MAX_RETRIES"])
    try:
        try:
            settings = UsageSettings.from_config(config)
        except ValueError as exc:  # a mistyped date in the configuration: the words say which
            raise PermanentError(f"Classroom usage is not imported: {exc}") from None
        credentials = connection.credentials
        token = credentials.get("access_token") or credentials.get("token") or ""
        client = ClassroomAPIService(http, token, classroom_url=connection.base_url or config["CLASSROOM_API_URL"],
                                     reports_url=config["CLASSROOM_REPORTS_URL"], timeout=config["SOURCE_TIMEOUT_S"])
        run = ClassroomUsageSync(db.session, client, user_id, settings).run(
            max_windows=config["CLASSROOM_USAGE_WINDOWS_PER_RUN"], time_budget_s=config["CLASSROOM_USAGE_RUN_S"])
    except Exception as exc:  # noqa: BLE001 - recorded on the connection, then handed to the queue
        db.session.rollback()
        message = _plain_error(exc)
        permanent = isinstance(exc, (PermanentError, TokenDecryptError))
        _record(connection_id, {"at": started.isoformat(), "ok": False, "message": message, "caught_up": False})
        log.warning("event=classroom_usage_failed connection_id=%s error_class=%s exception=%s", connection_id,
                    "permanent" if permanent else "transient", type(exc).__name__)
        if isinstance(exc, OperationError):
            raise
        raise (PermanentError if permanent else TransientError)(message) from exc
    finally:
        http.close()

    through = run.dates[-1] if run.dates else None
    words = (f"Usage imported for {len(run.dates)} date{'' if len(run.dates) == 1 else 's'}"
             + (f", through {through.isoformat()}" if through else "")
             + ("." if run.caught_up else "; the rest comes with the next runs."))
    _record(connection_id, {"at": started.isoformat(), "ok": True, "message": words, "caught_up": run.caught_up,
                            "through": through.isoformat() if through else None})
    log.info("event=classroom_usage_end connection_id=%s dates=%d caught_up=%s requests=%d", connection_id,
             len(run.dates), run.caught_up, stats.requests)
    return {"connection_id": connection_id, **run.as_dict(), "requests": stats.requests, "summary": words}


def _plain_error(exc: BaseException) -> str:
    if isinstance(exc, TokenDecryptError):
        return "The saved Google Classroom token cannot be decrypted (the encryption key changed). Save it again."
    if isinstance(exc, OperationError):
        return describe(exc)
    return f"The Classroom usage import failed unexpectedly ({type(exc).__name__}); it will be tried again."


def _record(connection_id: int, outcome: dict) -> None:
    """Write the outcome under the connection's state, re-read first so a pull's state is kept."""
    connection = db.session.get(UserConnection, connection_id)
    if connection is None:
        return
    db.session.refresh(connection)
    connection.state = {**connection.state, STATE_KEY: {k: (v[:2000] if isinstance(v, str) else v)
                                                        for k, v in outcome.items()}}
    db.session.commit()
