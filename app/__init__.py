"""Canvas Flow: keep learning-platform data in a local database and a web planner."""
from __future__ import annotations

from flask import Flask

from config import Config, config_from_env


def create_app(config: type[Config] | dict | None = None, *, refuse_unsafe: bool = True) -> Flask:
    """The app; in production it refuses weak secrets unless refuse_unsafe is off (`flask doctor` only)."""
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.from_object(config_from_env() if config is None or isinstance(config, dict) else config)
    if isinstance(config, dict):
        app.config.update(config)
    if refuse_unsafe and app.config.get("CANVASFLOW_ENV") == "production":
        from app.production import UnsafeProductionSettings, refusals

        problems = refusals(app.config)
        if problems:
            raise UnsafeProductionSettings(problems)
    hops = int(app.config.get("PROXY_TRUSTED_HOPS") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

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
