"""The operations dashboard (/admin/sync): health at a glance, trends, errors, history, queue controls."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from app.extensions import db
from app.models import SyncOperation, SyncRun
from app.models.types import utcnow
from app.ops import stats
from app.ops.charts import stacked_bars
from app.sync import queue
from app.sync.hub import ENTITY_TYPES, Hub
from app.web.admin import bp
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
    day = stats.runs_chart(db.session, now, buckets=24, size=timedelta(hours=1), fmt="%H:00")
    month = stats.runs_chart(db.session, now, buckets=30, size=timedelta(days=1), fmt="%d %b")
    return render_template(
        "admin/sync.html", now=now, summary=stats.summary(db.session, now), filters=filters,
        chart_day=Markup(stacked_bars(day, title="Sync runs per hour, last 24 hours", label_every=4)),
        chart_month=Markup(stacked_bars(month, title="Sync runs per day, last 30 days", label_every=5)),
        errors=stats.error_groups(db.session, now), history=stats.history(db.session, filters),
        operations=stats.operations(db.session), alerts=stats.open_alerts(db.session),
        paused=queue.paused_kinds(db.session), kinds=sorted(set(queue.registered_kinds())),
        statuses=SyncRun.FINISHED_STATES + (SyncRun.RUNNING, SyncRun.QUEUED), form=SyncForm(),
        conflicts=_conflicts(limit=CONFLICT_LOG_ROWS))


CONFLICT_LOG_ROWS = 20


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
    fn, done = ACTIONS[action]
    if fn(db.session, op_id):
        flash(f"Operation {op_id} {done}.", "success")
        queue.wake()
    else:
        flash(f"Operation {op_id} cannot be {done} in its state.", "warning")
    log.info("event=operation_%s admin_id=%s op_id=%s", action, current_user.id, op_id)
    return redirect(url_for("admin.sync_dashboard"), code=303)
