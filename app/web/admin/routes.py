from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.web.admin import bp
from app.web.planner.queries import last_runs_by_user
from app.web.sync.messages import describe
from app.web.sync.routes import SyncForm, start_sync

log = logging.getLogger(__name__)


@bp.before_request
@login_required
def _require_admin():
    if not current_user.is_admin:
        abort(403)  # a styled page that says these pages are for administrators


@bp.route("/")
def index():
    users = db.session.scalars(select(User).order_by(User.email)).all()
    last = last_runs_by_user()
    rows = [(u, last.get(u.id), describe(last[u.id]) if u.id in last else None) for u in users]
    return render_template("admin/index.html", rows=rows, form=SyncForm())


@bp.route("/users/<int:user_id>/sync", methods=["POST"])
def sync_user(user_id: int):
    if not SyncForm().validate_on_submit():
        abort(400)
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if not user.has_canvas:
        flash(f"{user.email} has not connected Canvas yet.", "warning")
        return redirect(url_for("admin.index"))
    run, joined = start_sync(user.id, trigger="admin", incremental=True)
    log.info("event=admin_sync_requested admin_id=%s user_id=%s run_id=%s", current_user.id, user.id, run.id)
    flash(f"{'Joined the running' if joined else 'Started a'} sync for {user.email}.", "success")
    return redirect(url_for("admin.index"), code=303)
