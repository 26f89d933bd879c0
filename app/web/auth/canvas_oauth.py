"""Log in with Canvas: /auth/canvas/login sends the person to Canvas, /auth/canvas/callback
brings them back (state checked, code exchanged once, users/self read) and signs them in.

Signed in already, the same flow links the account to the Canvas user once. Failures are
plain pages; no token, code or state reaches a page or a log line.
"""
from __future__ import annotations

import logging
import secrets

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user

from app.extensions import db
from app.services.canvas_api_service import CanvasAPIError, CanvasAPIService
from app.services.canvas_oauth import (CanvasSignIn, SignInRefused, canvas_provider, identity_of,
                                       personal_tokens_allowed)
from app.services.http import ApiError
from app.services.oauth_client import OAuthProvider, OAuthRefused, PolicyOAuth2Session
from app.web.auth import bp
from app.web.auth.routes import start_session
from app.web.errors import render_error

log = logging.getLogger(__name__)

STATE_KEY = "canvas_oauth_state"
LINK_KEY = "canvas_oauth_link"


def _provider_or_404():
    provider = canvas_provider()
    if not provider.configured:
        abort(404)
    return provider


def _session_for(provider) -> PolicyOAuth2Session:
    return PolicyOAuth2Session(provider, redirect_uri=url_for("auth.canvas_callback", _external=True))


@bp.route("/auth/canvas/login")
def canvas_login():
    provider = _provider_or_404()
    oauth = _session_for(provider)
    try:
        uri, state = oauth.authorization_url()
    finally:
        oauth.close()
    session[STATE_KEY] = state
    if current_user.is_authenticated:
        session[LINK_KEY] = current_user.id
    else:
        session.pop(LINK_KEY, None)
    return redirect(uri)


def _refuse(title: str, message: str, code: int = 400):
    return render_error(code, title=title, message=message)


@bp.route("/auth/canvas/callback")
def canvas_callback():
    provider = _provider_or_404()
    expected = session.pop(STATE_KEY, None)
    link_id = session.pop(LINK_KEY, None)
    state = request.args.get("state") or ""
    if not expected or not secrets.compare_digest(str(expected), state):
        log.info("event=canvas_oauth_state_mismatch had_state=%s", bool(state))
        return _refuse("That sign-in did not start here",
                       "Nobody was signed in. Start again with Log in with Canvas.")
    if request.args.get("error"):
        log.info("event=canvas_oauth_denied error=%s", request.args.get("error", "")[:40])
        return _refuse("Canvas did not sign you in",
                       "Canvas did not grant access (it was cancelled or the app is not allowed). "
                       "Nobody was signed in.", 403)
    code = request.args.get("code")
    if not code:
        return _refuse("Canvas did not sign you in", "Canvas sent no sign-in code. Start again.")
    oauth = _session_for(provider)
    try:
        token = oauth.exchange_code(code)
    except OAuthRefused as exc:
        log.info("event=canvas_oauth_code_refused error=%s", exc.error or exc.status)
        return _refuse("Canvas did not accept that sign-in",
                       "That sign-in link was already used or has expired. Start again with Log in with Canvas.")
    except ApiError as exc:
        log.warning("event=canvas_oauth_token_failed kind=%s", exc.kind)
        return _refuse("Canvas could not be reached", f"{exc.message} Nobody was signed in.", 502)
    finally:
        oauth.close()
    try:
        with CanvasAPIService(provider.issuer, token["access_token"], timeout=10.0, max_retries=1,
                              page_workers=1) as api:
            profile = api.get_self()
    except CanvasAPIError as exc:
        return _refuse("Canvas could not say who you are", f"{exc.message} Nobody was signed in.", 502)
    signed_in = current_user._get_current_object() if current_user.is_authenticated else None
    if signed_in is not None and link_id != signed_in.id:  # begun in another session: never link across accounts
        return _refuse("That sign-in did not start here", "Nothing was linked. Start again from Settings.")
    was_new = signed_in is None or identity_of(signed_in) is None
    try:
        user = CanvasSignIn(db.session, provider).complete(token, profile, signed_in)
        db.session.commit()
    except SignInRefused as exc:
        db.session.rollback()
        return _refuse("Canvas sign-in refused", str(exc), 409)
    first_sync = user.last_synced_canvas is None
    if signed_in is None:
        start_session(user)
    log.info("event=canvas_oauth_signed_in user_id=%s linked=%s", user.id, signed_in is not None)
    if first_sync or was_new:
        from app.web.sync.routes import start_sync

        run, _joined = start_sync(user.id, trigger="button", incremental=False)
        flash("Signed in with Canvas. Your first sync is running.", "success")
        return redirect(url_for("sync.run", run_id=run.id))
    flash("Signed in with Canvas.", "success")
    return redirect(url_for("planner.index"))


@bp.app_context_processor
def _canvas_sign_in():
    def canvas_identity():
        return identity_of(current_user._get_current_object()) if current_user.is_authenticated else None

    return {"canvas_sign_in": canvas_provider(current_app.config).configured, "canvas_identity": canvas_identity,
            "personal_tokens_allowed": personal_tokens_allowed(current_app.config),
            "google_consent": OAuthProvider.google(current_app.config).configured}
