"""Web layer: blueprints, one package per feature."""
from __future__ import annotations

from flask import Flask
from flask_login import current_user

from app.extensions import db, login_manager
from app.models import User


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def init_app(app: Flask) -> None:
    from app.web.auth import bp as auth_bp
    from app.web.planner import bp as planner_bp

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    app.register_blueprint(auth_bp)
    app.register_blueprint(planner_bp)

    @app.context_processor
    def inject_user():
        return {"current_user": current_user}
