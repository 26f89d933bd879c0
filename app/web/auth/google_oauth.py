"""Connect Google Classroom through Google's consent (authorization code, offline access,
Classroom read-only scopes). The signed-in person's Classroom connection then holds the
access and refresh tokens (encrypted); pulls refresh them as Google does. Pasting a token
(a service account's, say) stays possible in Settings."""
from __future__ import annotations

import logging
import secrets

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.models import UserConnection
from app.models.canvas import CLASSROOM
from app.services.http import ApiError
from app.services.oauth_client import OAuthProvider, OAuthRefused, PolicyOAuth2Session, expires_at_of
from app.sync.jobs.source_pull import request_pull
from app.web.auth import bp
from app.web.errors import render_error

log = logging.getLogger(__name__)

STATE_KEY = "google_oauth_state"


def _provider_or_404() -> OAuthProvider:
    provider = OAuthProvider.google(current_app.config)
    if not provider.configured:
        abort(404)
    return provider


def _session_for(provider: OAuthProvider) -> PolicyOAuth2Session:
    return PolicyOAuth2Session(provider, redirect_uri=url_for("auth.google_callback", _external=True))


@bp.route("/auth/google/login")
@login_required
def google_login():
    oauth = _session_for(_provider_or_404())
    try:
        uri, state = oauth.authorization_url()
    finally:
        oauth.close()
    session[STATE_KEY] = state
    return redirect(uri)


@bp.route("/auth/google/callback")
@login_required
def google_callback():
    provider = _provider_or_404()
    expected = session.pop(STATE_KEY, None)
    if not expected or not secrets.compare_digest(str(expected), request.args.get("state") or ""):
        log.info("event=google_oauth_state_mismatch")
        return render_error(400, title="That consent did not start here",
                            message="Nothing was connected. Start again from Settings.")
    if request.args.get("error") or not request.args.get("code"):
        return render_error(403, title="Google did not grant access",
                            message="Google Classroom was not connected (the consent was cancelled or refused).")
    oauth = _session_for(provider)
    try:
        token = oauth.exchange_code(request.args["code"])
    except OAuthRefused as exc:
        log.info("event=google_oauth_code_refused error=%s", exc.error or exc.status)
        return render_error(400, title="Google did not accept that consent",
                            message="That consent link was already used or has expired. Start again from Settings.")
    except ApiError as exc:
        return render_error(502, title="Google could not be reached", message=f"{exc.message} Nothing was connected.")
    finally:
        oauth.close()
    if not token.get("refresh_token"):
        return render_error(400, title="Google gave no lasting access",
                            message="Google sent no refresh token. Remove Canvas Flow at myaccount.google.com "
                                    "and connect again.")
    connection = db.session.scalar(db.select(UserConnection).where(
        UserConnection.user_id == current_user.id, UserConnection.system == CLASSROOM))
    if connection is None:
        connection = UserConnection(user_id=current_user.id, system=CLASSROOM)
        db.session.add(connection)
    connection.state = None  # another grant may see other classes: a full pull
    connection.last_success_at = connection.last_full_pull_at = None
    connection.base_url = current_app.config["CLASSROOM_API_URL"]
    connection.set_credentials({"access_token": token["access_token"], "refresh_token": token["refresh_token"],
                                "expires_at": expires_at_of(token), "token_kind": "oauth"},
                               hint_from="refresh_token")
    connection.status, connection.last_error = UserConnection.NEW, None
    db.session.commit()
    log.info("event=google_connected user_id=%s", current_user.id)
    request_pull(connection, trigger="settings", full=True)
    flash("Google Classroom connected. The first pull is queued; its result shows here.", "success")
    return redirect(url_for("settings.canvas", _anchor=CLASSROOM))
