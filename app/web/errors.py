"""Error pages people can read, with a way back; JSON for the machine endpoints.

An expired or missing CSRF token (a form left open past the token's life) is not a
"Bad Request" to the person who typed into it: the page says the form expired and,
for a plain form, offers to send it again with a fresh token and what was typed,
leaving out anything secret (passwords, tokens, keys), which is typed again.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, jsonify, render_template, request, url_for
from markupsafe import escape
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

PAGES = {
    400: ("Something in that request was not right", "The page could not use what was sent. Go back and try again."),
    403: ("This page is not for your account", "It is open to administrators only."),
    404: ("Page not found", "There is nothing here. It may have been removed, or the address is mistyped."),
    405: ("That cannot be done here", "This address does not accept that kind of request; use the page's own buttons."),
    429: ("Too many tries", "Wait a minute, then try again."),
    500: ("Something went wrong on our side", "The error was logged. Try again in a moment."),
}
SECRET_WORDS = ("password", "token", "secret", "key", "csrf")


def wants_json() -> bool:
    if request.path.endswith(".json") or request.path.startswith(("/healthz", "/metrics", "/webhooks", "/api/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def back_link() -> str:
    """The page the person came from when it is one of ours, else the start page."""
    ref = request.referrer or ""
    parts = urlsplit(ref)
    if ref and parts.netloc == request.host and parts.path != request.path:
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url_for("planner.index")


def kept_fields() -> list[tuple[str, str]]:
    """What was typed into the expired form, minus anything secret."""
    return [(name, value) for name, value in request.form.items(multi=True)
            if not any(word in name.lower() for word in SECRET_WORDS)]


def render_error(code: int, *, title: str | None = None, message: str | None = None, expired: bool = False):
    default_title, default_message = PAGES.get(code, (f"Error {code}", ""))
    if wants_json():
        return jsonify({"error": title or default_title, "status": code}), code
    try:
        return render_template("errors/error.html", code=code, title=title or default_title,
                               message=message or default_message, back=back_link(), expired=expired,
                               resend_fields=kept_fields() if expired else [],
                               resend_action=request.path if expired else None), code
    except Exception:  # the page itself failed (a broken database session): plain words, still a way back
        log.exception("event=error_page_failed status=%s", code)
        return (f"<!doctype html><title>{escape(title or default_title)}</title><h1>{escape(title or default_title)}"
                f"</h1><p>{escape(message or default_message)}</p><p><a href=\"/\">Back to Canvas Flow</a></p>", code)


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_expired(exc):
        log.info("event=form_expired path=%s reason=%r", request.path, exc.description)
        return render_error(400, title="This form expired",
                            message="It was open too long (or the page was opened in another session), so it was "
                                    "not sent. Nothing was changed.", expired=True)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400 or exc.response is not None:
            return exc
        if exc.code in (401,) and wants_json():
            return exc
        return render_error(exc.code)

    @app.errorhandler(InternalServerError)
    def server_error(exc):
        return render_error(500)
