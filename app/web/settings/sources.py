"""Settings: connect Google Classroom and Schoology, pull now, disconnect.

Credentials are encrypted on the user's `user_connection` row and never shown back
(the page says "ends in ...abcd"). Before saving, one real call with the candidate
credentials (Classroom: the first page of courses; Schoology: users/me) tells the person
at once whether they work ("Schoology refused the OAuth signature ..."), and nothing is
saved when they do not. Saving then queues a full pull (queue kind "source_pull"); its
outcome appears on this page in plain words.
"""
from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.extensions import db
from app.models import UserConnection
from app.models.canvas import CLASSROOM, SCHOOLOGY, SOURCE_NAMES
from app.services.classroom_api_service import ClassroomAPIService, build_classroom_session
from app.services.egress import EgressPolicy
from app.services.http import ApiError
from app.services.schoology_api_service import SchoologyAPIService
from app.sync.jobs.source_pull import request_pull
from app.sync.sources.store import hide_source_courses
from app.web.confirm import confirmation_page, confirmed
from app.web.settings import bp
from app.web.settings.forms import SourceActionForm
from app.web.settings.page import classroom_form, connection_of, render_settings, schoology_form
from app.web.settings.urls import CanvasURLError, normalize_service_url

log = logging.getLogger(__name__)
SYSTEMS = (CLASSROOM, SCHOOLOGY)
CHECK_TIMEOUT_S = 10.0
CHECK_DEADLINE_S = 15.0  # a person is waiting on the form


class CredentialsRefused(Exception):
    """The system refused the credentials or could not be reached; str() is safe to show."""


def check_credentials(system: str, base_url: str, credentials: dict) -> None:
    """One real call with the candidate credentials, as a pull would make it."""
    try:
        if system == CLASSROOM:
            with build_classroom_session(total_retries=1, backoff_factor=0.2) as session:
                client = ClassroomAPIService(session, credentials["access_token"], classroom_url=base_url,
                                             timeout=CHECK_TIMEOUT_S, deadline_s=CHECK_DEADLINE_S, page_size=1)
                next(iter(client.iter_courses()), None)
        else:
            with SchoologyAPIService.build_session(total_retries=1) as session:
                SchoologyAPIService(session, credentials["consumer_key"], credentials["consumer_secret"],
                                    api_url=base_url, timeout=CHECK_TIMEOUT_S, max_request_s=CHECK_DEADLINE_S,
                                    max_attempts=2, backoff_factor=0.2).get_me()
    except ApiError as exc:
        raise CredentialsRefused(exc.message) from None
# A saved credential is only ever sent to the host it was saved for.
CREDENTIAL_FOR_NEW_HOST = "A new address needs the credentials again. Nothing was saved."


def _checked_url(raw: str, system: str, default: str) -> str:
    config = current_app.config
    return normalize_service_url(raw or default, name=SOURCE_NAMES[system], example=default,
                                 require_https=config.get("REQUIRE_HTTPS_CANVAS_URLS", False),
                                 allow_private=config.get("ALLOW_PRIVATE_CANVAS_URLS", True),
                                 allow_hosts=EgressPolicy.from_config(config).allow_hosts)


def _checked_save(connection: UserConnection | None, system: str, form, field, base_url: str, credentials: dict,
                  hint_from: str):
    """Save only credentials the system accepted just now; else say why on `field`."""
    try:
        check_credentials(system, base_url, credentials)
    except CredentialsRefused as exc:
        field.errors.append(f"{exc} Nothing was saved.")
        return render_settings(forms={system: form}), 400
    return _save(connection, system, base_url, credentials, hint_from=hint_from)


def _save(connection: UserConnection | None, system: str, base_url: str, credentials: dict, hint_from: str):
    if connection is None:
        connection = UserConnection(user_id=current_user.id, system=system)
        db.session.add(connection)
    elif connection.base_url != base_url or connection.credentials != credentials:
        connection.state = None  # another address or account: start over with a full pull
        connection.last_success_at = connection.last_full_pull_at = None
    connection.base_url = base_url
    connection.set_credentials(credentials, hint_from=hint_from)
    connection.status, connection.last_error = UserConnection.NEW, None
    db.session.commit()
    log.info("event=source_connection_saved user_id=%s system=%s", current_user.id, system)
    request_pull(connection, trigger="settings", full=True)
    flash(f"{SOURCE_NAMES[system]} saved. The first pull is queued; its result shows here.", "success")
    return redirect(url_for("settings.canvas", _anchor=system))


@bp.route("/classroom", methods=["POST"])
def save_classroom():
    connection = connection_of(current_user.id, CLASSROOM)
    form = classroom_form(connection, formdata=request.form)
    if not form.validate_on_submit():
        return render_settings(forms={CLASSROOM: form}), 400
    try:
        base_url = _checked_url(form.api_url.data, CLASSROOM, current_app.config["CLASSROOM_API_URL"])
    except CanvasURLError as exc:
        form.api_url.errors.append(str(exc))
        return render_settings(forms={CLASSROOM: form}), 400
    token = (form.token.data or "").strip()
    if not token:
        if connection is None or not connection.connected:
            form.token.errors.append("Paste a Google Classroom access token.")
            return render_settings(forms={CLASSROOM: form}), 400
        if connection.base_url != base_url:
            form.token.errors.append(CREDENTIAL_FOR_NEW_HOST)
            return render_settings(forms={CLASSROOM: form}), 400
        token = connection.credentials.get("access_token", "")
    return _checked_save(connection, CLASSROOM, form, form.token, base_url,
                         {"access_token": token, "token_kind": form.token_kind.data}, hint_from="access_token")


@bp.route("/schoology", methods=["POST"])
def save_schoology():
    connection = connection_of(current_user.id, SCHOOLOGY)
    form = schoology_form(connection, formdata=request.form)
    if not form.validate_on_submit():
        return render_settings(forms={SCHOOLOGY: form}), 400
    try:
        base_url = _checked_url(form.base_url.data, SCHOOLOGY, current_app.config["SCHOOLOGY_API_URL"])
    except CanvasURLError as exc:
        form.base_url.errors.append(str(exc))
        return render_settings(forms={SCHOOLOGY: form}), 400
    saved = connection.credentials if connection is not None and connection.connected else {}
    key_typed, secret_typed = (form.consumer_key.data or "").strip(), (form.consumer_secret.data or "").strip()
    if saved and connection.base_url != base_url and not (key_typed and secret_typed):
        form.consumer_key.errors.append(CREDENTIAL_FOR_NEW_HOST)
        return render_settings(forms={SCHOOLOGY: form}), 400
    key = key_typed or saved.get("consumer_key", "")
    secret = secret_typed or saved.get("consumer_secret", "")
    if not key or not secret:
        field = form.consumer_key if not key else form.consumer_secret
        field.errors.append("Enter the consumer key and secret from Schoology (your profile → API Credentials).")
        return render_settings(forms={SCHOOLOGY: form}), 400
    return _checked_save(connection, SCHOOLOGY, form, form.consumer_secret, base_url,
                         {"consumer_key": key, "consumer_secret": secret}, hint_from="consumer_secret")


def _own_connection(system: str) -> UserConnection:
    if system not in SYSTEMS:
        abort(404)
    connection = connection_of(current_user.id, system)
    if connection is None or not connection.connected:
        abort(404)
    return connection


@bp.route("/<system>/pull", methods=["POST"])
def pull_source(system: str):
    connection = _own_connection(system)
    if SourceActionForm().validate_on_submit():
        _, joined = request_pull(connection, trigger="settings")
        flash(f"A {SOURCE_NAMES[system]} pull {'was already queued' if joined else 'is queued'}.", "info")
    return redirect(url_for("settings.canvas", _anchor=system))


@bp.route("/<system>/disconnect", methods=["POST"])
def disconnect_source(system: str):
    connection = _own_connection(system)
    if SourceActionForm().validate_on_submit():
        if not confirmed():
            return confirmation_page(
                title=f"Disconnect {SOURCE_NAMES[system]}?",
                message="Its credentials are deleted and its courses hidden from the planner; connecting again "
                        "brings them back.", confirm_label=f"Disconnect {SOURCE_NAMES[system]}",
                cancel_url=url_for("settings.canvas", _anchor=system))
        db.session.delete(connection)
        hidden = hide_source_courses(db.session, current_user.id, system)
        db.session.commit()
        log.info("event=source_connection_removed user_id=%s system=%s courses_hidden=%d", current_user.id, system,
                 hidden)
        flash(f"{SOURCE_NAMES[system]} was disconnected and its credentials deleted. Its courses are hidden "
              "from the planner; connecting again brings them back.", "info")
    return redirect(url_for("settings.canvas", _anchor=system))
