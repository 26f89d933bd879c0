from app import create_app
from config import TestingConfig
from tests.conftest import make_test_app


def test_factory_applies_given_config():
    assert not create_app({"TESTING": False, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).testing
    assert make_test_app("sqlite://").testing


def test_production_refuses_development_secret():
    from config import ProductionConfig
    import pytest

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**{k: getattr(ProductionConfig, k) for k in dir(ProductionConfig) if k.isupper()},
                    "SECRET_KEY": "dev-secret-key-change-me"})


def test_login_page_is_served(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Log in" in response.data
    assert b'name="csrf_token"' in response.data


def test_pages_need_a_session(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_default_database_is_sqlite_under_instance(monkeypatch):
    import importlib

    import config

    monkeypatch.delenv("DATABASE_URL", raising=False)
    fresh = importlib.reload(config)
    try:
        assert fresh.Config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
        assert fresh.Config.SQLALCHEMY_DATABASE_URI.endswith("instance/canvasflow.db")
    finally:
        importlib.reload(config)


def test_sqlite_uses_wal(tmp_path):
    from sqlalchemy import text

    from app.extensions import db

    app = make_test_app(f"sqlite:///{tmp_path / 'wal.db'}")
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
