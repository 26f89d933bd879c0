from __future__ import annotations

import logging

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.services.canvas_oauth import personal_tokens_allowed
from app.services.egress import EgressPolicy
from app.web.confirm import confirmation_page, confirmed
from app.web.settings import bp
from app.web.settings.forms import CanvasForm, DisconnectForm
from app.web.settings.page import render_settings
from app.web.settings.urls import CanvasURLError, normalize_canvas_url

log = logging.getLogger(__name__)
VERIFY_TIMEOUT_S = 10.0
VERIFY_DEADLINE_S = 15.0  # a person is waiting: a slow Canvas is given up on, whatever it sends
COURSES_SCOPE = "url:GET|/api/v1/courses"
HOST_CHANGE_NEEDS_TOKEN = "A new address needs the access token again. Nothing was saved."


class VerificationError(Exception):
    """Canvas refused or could not be reached; str() is safe to show."""


def verify_token(base_url: str, token: str) -> dict:
    """The candidate token against what a sync needs: ``users/self``, then one page of the
    course list (a developer-key token scoped to users/self only is refused here, with the
    missing scope named, not at the first sync). Returns the Canvas user."""
    from app.services.canvas_api_service import CanvasAPIError, CanvasAPIService, InsufficientScope

    # A person is waiting on the form: one quick retry at most, not the sync's patience.
    api = CanvasAPIService(base_url, token, timeout=VERIFY_TIMEOUT_S, connect_timeout=5.0, max_retries=1,
                           backoff_factor=0.2, page_workers=1, deadline_s=VERIFY_DEADLINE_S)
    try:
        me = api.get_self()
        try:
            api.get_course_page()
        except InsufficientScope:
            raise VerificationError("This Canvas access token may not list your courses, which a sync needs: "
                                    f"its developer key must include the scope {COURSES_SCOPE}.") from None
        return me
    except CanvasAPIError as exc:
        raise VerificationError(str(exc)) from exc
    finally:
        api.close()


@bp.before_request
@login_required
def _require_login():
    return None


@bp.route("/", methods=["GET", "POST"])
def canvas():
    user = current_user
    form = CanvasForm()
    if request.method == "GET" and user.canvas_base_url:
        form.base_url.data = user.canvas_base_url
    status = 200
    if request.method == "POST" and not personal_tokens_allowed(current_app.config):
        flash("Pasted Canvas tokens are switched off here: use Log in with Canvas.", "error")
        return _render(form), 403
    if form.validate_on_submit():
        try:
            base_url = normalize_canvas_url(
                form.base_url.data,
                require_https=current_app.config.get("REQUIRE_HTTPS_CANVAS_URLS", False),
                allow_private=current_app.config.get("ALLOW_PRIVATE_CANVAS_URLS", True),
                allow_hosts=EgressPolicy.from_config(current_app.config).allow_hosts,
            )
        except CanvasURLError as exc:
            form.base_url.errors.append(str(exc))
            return _render(form), 400
        token = (form.token.data or "").strip()
        if not token:
            if not user.canvas_token_encrypted:
                form.token.errors.append("Paste your Canvas access token.")
                return _render(form), 400
            if base_url != user.canvas_base_url:
                # The saved token is never sent to another host: whoever holds the session
                # must not be able to pull it out by pointing the address elsewhere.
                form.token.errors.append(HOST_CHANGE_NEEDS_TOKEN)
                return _render(form), 400
            token = user.canvas_token  # re-check the saved token against the same address
        try:
            me = verify_token(base_url, token)
        except VerificationError as exc:
            log.info("event=canvas_token_rejected user_id=%s", user.id)
            form.token.errors.append(f"{exc} Nothing was saved.")
            return _render(form), 400
        user.canvas_base_url = base_url
        user.canvas_token = token
        if isinstance(me, dict) and me.get("id") is not None:
            user.canvas_user_id = int(me["id"])
        db.session.commit()
        log.info("event=canvas_token_saved user_id=%s", user.id)
        who = me.get("name") if isinstance(me, dict) else None
        flash(f"Canvas connected{f' as {who}' if who else ''}. Click Sync Canvas to fetch your courses.", "success")
        return redirect(url_for("settings.canvas"))
    if request.method == "POST":
        status = 400
    return _render(form), status


@bp.route("/disconnect", methods=["POST"])
def disconnect():
    form = DisconnectForm()
    if form.validate_on_submit():
        if not confirmed():
            return confirmation_page(
                title="Remove the Canvas token?",
                message="Canvas Flow stops syncing until you paste a token again. Your synced courses and "
                        "deadlines stay.", confirm_label="Remove token", cancel_url=url_for("settings.canvas"))
        current_user.canvas_token = None
        db.session.commit()
        flash("The Canvas token was removed. Your synced data stays until you connect again.", "info")
    return redirect(url_for("settings.canvas"))


def _render(form: CanvasForm):
    return render_settings(form)
