"""Web layer: blueprints, one package per feature (auth, settings, planner, sync, admin, calendar, discussions,
webhooks)."""
from __future__ import annotations

from flask import Flask
from flask_login import current_user

from app.extensions import db, login_manager
from app.models import User

# Everything comes from our own origin: no CDN, no inline script, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """`<user id>:<session version>` (User.get_id); a cookie of an ended session finds no one."""
    user_id, _, version = str(session_id).partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or (user.session_version or 0) != int(version):
        return None
    return user


def init_app(app: Flask) -> None:
    from app.web.admin import bp as admin_bp
    from app.web.auth import bp as auth_bp
    from app.web.calendar import bp as calendar_bp
    from app.web.planner import bp as planner_bp
    from app.web.settings import bp as settings_bp
    from app.web.sync import bp as sync_bp
    from app.web.filters import register_filters
    from app.web.ops import bp as ops_bp
    from app.web.discussions import bp as discussions_bp
    from app.web.webhooks import bp as webhooks_bp

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    for bp in (auth_bp, settings_bp, planner_bp, sync_bp, admin_bp, ops_bp, calendar_bp, discussions_bp,
               webhooks_bp):
        app.register_blueprint(bp)
    register_filters(app)
    from app.web import errors
    errors.init_app(app)

    @app.context_processor
    def inject_user():
        return {"current_user": current_user}

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if current_user and getattr(current_user, "is_authenticated", False):
            # Pages show private data: never keep them in shared caches.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
