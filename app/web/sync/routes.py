from __future__ import annotations

import logging

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select

from app.extensions import db
from app.models import SyncRun
from app.services.live_progress import live_progress_for
from app.web.sync import bp
from app.web.sync.messages import describe

log = logging.getLogger(__name__)
HISTORY_LIMIT = 100


class SyncForm(FlaskForm):
    """Only the CSRF token: the buttons carry no other data."""


def start_sync(user_id: int, *, trigger: str, incremental: bool) -> tuple[SyncRun, bool]:
    """Ask the runner for a sync; returns (run, joined) at once, the sync runs elsewhere."""
    from app.sync.jobs.canvas_sync import start_or_join

    return start_or_join(user_id, trigger=trigger, incremental=incremental)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def own_run_or_404(run_id: int) -> SyncRun:
    run = db.session.get(SyncRun, run_id)
    if run is None or (run.user_id != current_user.id and not current_user.is_admin):
        abort(404)
    return run


@bp.before_request
@login_required
def _require_login():
    return None


def _start(incremental: bool):
    if not SyncForm().validate_on_submit():
        abort(400)
    if not current_user.has_canvas:
        message = "Connect your Canvas account first: add the Canvas address and an access token."
        if _wants_json():
            return jsonify({"error": message}), 409
        flash(message, "warning")
        return redirect(url_for("settings.canvas"))
    run, joined = start_sync(current_user.id, trigger="button", incremental=incremental)
    log.info("event=sync_requested user_id=%s run_id=%s joined=%s", current_user.id, run.id, joined)
    if _wants_json():
        return jsonify({"run_id": run.id, "joined": joined, "url": url_for("sync.run", run_id=run.id),
                        "progress_url": url_for("sync.run_json", run_id=run.id)}), 202
    if joined:
        flash("A sync was already running; here is its progress.", "info")
    return redirect(url_for("sync.run", run_id=run.id), code=303)


@bp.route("/", methods=["POST"])
def start():
    return _start(incremental=True)


@bp.route("/full", methods=["POST"])
def start_full():
    return _start(incremental=False)


@bp.route("/runs/<int:run_id>")
def run(run_id: int):
    run = own_run_or_404(run_id)
    return render_template("sync/run.html", run=run, info=describe(run, live=_live(run)), form=SyncForm())


def _live(run: SyncRun):
    """Rows written so far inside the course being written (app/services/live_progress.py)."""
    return None if run.is_finished else live_progress_for(current_app._get_current_object()).read(run.id)


@bp.route("/runs/<int:run_id>.json")
def run_json(run_id: int):
    run = own_run_or_404(run_id)
    response = jsonify(describe(run, live=_live(run)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/history")
def history():
    runs = db.session.scalars(
        select(SyncRun).where(SyncRun.user_id == current_user.id)
        .order_by(SyncRun.id.desc()).limit(HISTORY_LIMIT)
    ).all()
    from markupsafe import Markup

    from app.models.types import utcnow
    from app.ops.charts import stacked_bars
    from app.ops.stats import calendar_chart
    from app.web.filters import user_zone

    # Calendar days in the user's zone: today's syncs are under today.
    bars = calendar_chart(db.session, utcnow(), user_zone(current_user), days=30, user_id=current_user.id)
    chart = Markup(stacked_bars(bars, title="Your syncs per day, last 30 days", height=110, label_every=7))
    return render_template("sync/history.html", runs=[(r, describe(r)) for r in runs], form=SyncForm(), chart=chart)


@bp.app_context_processor
def _sync_status_helpers():
    def sync_status() -> dict:
        """The user's running sync and latest run, for the banner on planner pages (1 query)."""
        if not current_user.is_authenticated:
            return {"active": None, "last": None, "info": None}
        last = db.session.scalar(
            select(SyncRun).where(SyncRun.user_id == current_user.id).order_by(SyncRun.id.desc()).limit(1)
        )
        active = last if last is not None and not last.is_finished else None
        return {"active": active, "last": last, "info": describe(last) if last is not None else None}

    return {"sync_status": sync_status, "sync_form": SyncForm}
