"""The operations dashboard (/admin/sync): health at a glance, trends, errors, history, queue controls."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from app.extensions import db
from app.models import SyncOperation, SyncRun, User
from app.models.types import utcnow
from app.ops import stats
from app.ops.charts import stacked_bars
from app.sync import queue
from app.sync.hub import ENTITY_TYPES, Hub
from app.web.admin import bp, words
from app.web.confirm import confirmation_page, confirmed
from app.web.filters import display_zone
from app.web.sync.routes import SyncForm

log = logging.getLogger(__name__)


def _when(name: str) -> datetime | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        flash(f"'{value}' is not a date (use YYYY-MM-DD).", "warning")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@bp.route("/sync")
def sync_dashboard():
    now = utcnow()
    filters = stats.HistoryFilter(user=request.args.get("user") or None, kind=request.args.get("kind") or None,
                                  status=request.args.get("status") or None,
                                  trigger=request.args.get("trigger") or None, since=_when("since"), until=_when("until"))
    zone = display_zone()
    day = stats.calendar_chart(db.session, now, zone, hours=24)
    month = stats.calendar_chart(db.session, now, zone, days=30)
    return render_template(
        "admin/sync.html", now=now, summary=stats.summary(db.session, now), filters=filters,
        chart_day=Markup(stacked_bars(day, title="Sync runs per hour, last 24 hours", label_every=6)),
        chart_month=Markup(stacked_bars(month, title="Sync runs per calendar day, last 30 days", label_every=7)),
        errors=stats.error_groups(db.session, now), failed_groups=_failed_groups(),
        history=stats.history(db.session, filters),
        operations=_operation_rows(stats.operations(db.session)), alerts=stats.open_alerts(db.session),
        paused=queue.paused_kinds(db.session), kinds=sorted(set(queue.registered_kinds())),
        statuses=SyncRun.FINISHED_STATES + (SyncRun.RUNNING, SyncRun.QUEUED), form=SyncForm(),
        conflicts=_conflicts(limit=CONFLICT_LOG_ROWS))


CONFLICT_LOG_ROWS = 20


@dataclass
class OperationRow:
    op: SyncOperation
    kind: str
    status: str
    for_whom: str
    error_summary: str
    error_detail: str
    actions: tuple


def _operation_rows(ops: list[SyncOperation]) -> list[OperationRow]:
    """Each operation in words: whose it is, what it did (a sync run that failed says so), the
    error without SQL, and only the controls its state allows."""
    user_ids = {op.user_id for op in ops if op.user_id}
    emails = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all()) \
        if user_ids else {}
    rows = []
    for op in ops:
        status = words.in_words(words.OPERATION_STATUSES, op.status)
        outcome = _result_status(op)
        if op.status == SyncOperation.COMPLETED and outcome in (SyncRun.FAILED, SyncRun.PARTIAL):
            status = f"Done, the sync {'failed' if outcome == SyncRun.FAILED else 'was partial'}"
        if op.forced and op.status == SyncOperation.PENDING:
            status += " (forced)"
        who = emails.get(op.user_id) if op.user_id else None
        target = " ".join(str(x) for x in (op.entity_type, op.entity_id) if x)
        summary, detail = words.plain_error(op.error_message)
        rows.append(OperationRow(op, words.in_words(words.OPERATION_KINDS, op.kind), status,
                                 who or target or "everyone", summary, detail,
                                 words.ACTIONS_BY_STATUS.get(op.status, ())))
    return rows


def _result_status(op: SyncOperation) -> str | None:
    try:
        result = json.loads(op.result_json) if op.result_json else None
    except ValueError:
        return None
    return result.get("status") if isinstance(result, dict) else None


def _failed_groups() -> list[dict]:
    """Failed queue operations grouped by kind and cause (in words), biggest first."""
    groups: dict[tuple, dict] = {}
    for op in stats.failed_operations(db.session):
        summary, _ = words.plain_error(op.error_message)
        key = (op.kind, summary)
        group = groups.setdefault(key, {"kind": words.in_words(words.OPERATION_KINDS, op.kind),
                                        "cause": summary or "No message", "count": 0,
                                        "last": op.finished_at or op.updated_at})
        group["count"] += 1
        group["last"] = max(group["last"], op.finished_at or op.updated_at)
    return sorted(groups.values(), key=lambda g: -g["count"])


def _conflicts(**kwargs) -> list[dict]:
    hub = Hub.from_app(db.session)
    try:
        return hub.conflicts(**kwargs)
    finally:
        hub.close()


@bp.route("/sync/conflicts/<entity_type>/<int:local_id>")
def entity_conflicts(entity_type: str, local_id: int):
    """Every recorded conflict of one topic or post, with both versions, the base and the result in full."""
    if entity_type not in ENTITY_TYPES:
        abort(404)
    conflicts = _conflicts(entity_type=entity_type, local_id=local_id, limit=200)
    return render_template("admin/conflicts.html", entity_type=entity_type, local_id=local_id, conflicts=conflicts)


def _checked() -> None:
    if not SyncForm().validate_on_submit():
        abort(400)


@bp.route("/sync/queue/<action>", methods=["POST"])
def queue_switch(action: str):
    _checked()
    kind = request.form.get("kind") or None
    if action == "pause":
        queue.pause(db.session, kind, by=current_user.email)
    elif action == "resume":
        queue.resume(db.session, kind)
    else:
        abort(404)
    log.info("event=queue_%s admin_id=%s kind=%s", action, current_user.id, kind or "*")
    flash(f"{'Paused' if action == 'pause' else 'Resumed'} {kind or 'the whole queue'}.", "success")
    return redirect(url_for("admin.sync_dashboard"), code=303)


ACTIONS = {"retry": (queue.retry, "put back for a retry"), "skip": (queue.skip, "skipped"),
           "force": (queue.force, "forced to run now")}


@bp.route("/sync/operations/<int:op_id>/<action>", methods=["POST"])
def operation_action(op_id: int, action: str):
    _checked()
    if action not in ACTIONS or db.session.get(SyncOperation, op_id) is None:
        abort(404)
    if action == "skip" and not confirmed():
        return confirmation_page(
            title=f"Skip operation {op_id}?",
            message="It will not run, and it cannot be resumed from where it is; Retry puts it back from the start.",
            confirm_label="Skip it", cancel_url=url_for("admin.sync_dashboard"))
    fn, done = ACTIONS[action]
    if fn(db.session, op_id):
        flash(f"Operation {op_id} {done}.", "success")
        queue.wake()
    else:
        flash(f"Operation {op_id} cannot be {done} in its state.", "warning")
    log.info("event=operation_%s admin_id=%s op_id=%s", action, current_user.id, op_id)
    return redirect(url_for("admin.sync_dashboard"), code=303)
