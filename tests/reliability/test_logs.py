"""No log line, at any level from any logger (urllib3's connection debug included), carries the token."""
from __future__ import annotations

import logging

import pytest

from app.extensions import db
from app.models import SyncRun
from tests.helpers import fast_service, make_canvas_user

TOKEN = "tok3n-5ecret-7c1d9e"


def all_log_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


@pytest.mark.timeout(120)
def test_no_token_in_logs_over_full_faulty_and_failed_runs(app, make_canvas_sandbox, caplog):
    sb = make_canvas_sandbox(token=TOKEN, courses=2, assignments=6, students=6, faults=0.25, fault_seed=5,
                             fault_slow_s=0.6)
    user = make_canvas_user(sb)
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records reach caplog
    loggers = [logging.getLogger(n) for n in ("urllib3", "urllib3.connectionpool", "requests", "app",
                                               "sqlalchemy.engine")]
    # Alembic's fileConfig (the migrated-app fixture ran it) disables every logger that existed then.
    disabled = [lg for lg in logging.root.manager.loggerDict.values()
                if isinstance(lg, logging.Logger) and lg.disabled]
    for logger in disabled:
        logger.disabled = False
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        results = [fast_service(user, timeout=0.3, per_page=3).sync_all_data()]
        if not results[-1].ok:
            results.append(fast_service(user, timeout=0.3, per_page=3).sync_all_data())
        results.append(fast_service(user, timeout=0.3, per_page=3).sync_all_data(use_incremental=True))
        user.canvas_token = TOKEN + "-wrong"  # a rejected token must not be logged either
        db.session.commit()
        failed = fast_service(user).sync_all_data()
    finally:
        for logger in loggers:
            logger.setLevel(logging.NOTSET)
        for logger in disabled:
            logger.disabled = True
    assert failed.status == SyncRun.FAILED and failed.error_kind == "invalid_token"
    text = all_log_text(caplog)
    # the capture really saw the traffic: urllib3's per-request debug lines and our events
    assert any(r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in caplog.records)
    assert "event=sync_end" in text and "/api/v1/courses" in text
    assert any(e.fault for e in sb.request_log)
    assert TOKEN not in text
    assert "Bearer" not in text
