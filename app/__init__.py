"""Canvas Flow: keep learning-platform data in a local database and a web planner."""
from __future__ import annotations

from flask import Flask

from config import Config, config_from_env


def create_app(config: type[Config] | dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.from_object(config_from_env() if config is None or isinstance(config, dict) else config)
    if isinstance(config, dict):
        app.config.update(config)
    if app.config.get("SESSION_COOKIE_SECURE") and app.config["SECRET_KEY"].startswith("dev-"):
        raise RuntimeError("Set SECRET_KEY (and TOKEN_ENCRYPTION_KEY) before running in production.")

    _ensure_sqlite_dir(app)
    from app.ops.logs import configure_logging

    configure_logging(app)

    from app import crypto, models  # noqa: F401  (models register with the metadata)
    from app.extensions import csrf, db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    login_manager.init_app(app)
    csrf.init_app(app)
    crypto.init_app(app)

    from app import cli, web
    from app.sync import jobs

    jobs.init_app(app)
    cli.init_app(app)
    web.init_app(app)
    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _ensure_sqlite_dir(app: Flask) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        from pathlib import Path

        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
