"""Shared fixtures: the app on each database backend, a CLI runner, sandbox servers.

Every test that takes `app` runs three times: on SQLite, MariaDB and PostgreSQL (a fresh
database `canvasflow_test_<random>` per session on each server, dropped at the end).
Outside CI an unreachable server skips its tests with the reason; under CI=true it
fails them.
"""
from __future__ import annotations

import os
import secrets

import psycopg
import pymysql
import pytest
from flask_migrate import upgrade
from sqlalchemy.engine import URL, make_url

from app import create_app
from app.extensions import db
from config import TestingConfig

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.classroom", "tests.fixtures.schoology",
                  "tests.fixtures.discourse", "tests.fixtures.hostile", "tests.fixtures.smtp"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
MARIADB_URL = make_url(os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/test"))
POSTGRES_URL = make_url(os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
BACKENDS = ["sqlite", "mariadb", "postgresql"]


def mariadb_admin_connection():
    return pymysql.connect(
        host=MARIADB_URL.host, port=MARIADB_URL.port or 3306, user=MARIADB_URL.username,
        password=MARIADB_URL.password or "", connect_timeout=3, autocommit=True,
    )


@pytest.fixture(scope="session")
def mariadb_server() -> URL:
    try:
        mariadb_admin_connection().close()
    except pymysql.MySQLError as exc:
        message = f"MariaDB not reachable at {MARIADB_URL.host}:{MARIADB_URL.port or 3306} ({exc})"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it (.ci/run starts it)")
        pytest.skip(f"{message}; start MariaDB to run the MariaDB tests")
    return MARIADB_URL


def postgres_admin_connection():
    return psycopg.connect(host=POSTGRES_URL.host, port=POSTGRES_URL.port or 5432, user=POSTGRES_URL.username,
                           password=POSTGRES_URL.password or None, dbname=POSTGRES_URL.database,
                           connect_timeout=3, autocommit=True)


@pytest.fixture(scope="session")
def postgres_server() -> URL:
    try:
        postgres_admin_connection().close()
    except psycopg.Error as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL.host}:{POSTGRES_URL.port or 5432} ({exc})"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it (.ci/run starts it)")
        pytest.skip(f"{message}; start PostgreSQL to run the PostgreSQL tests")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis for Celery and the shared login limits (127.0.0.1:6379; .ci/run starts it)."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis not reachable at {url} ({exc}); CI=true requires it (.ci/run starts it)")
        pytest.skip(f"Redis not reachable at {url} ({exc}); start Redis to run the Redis and Celery tests")
    return url


def create_postgres_database(server: URL) -> URL:
    name = f"canvasflow_test_{secrets.token_hex(4)}"
    with postgres_admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\'')
    return server.set(database=name)


def drop_postgres_database(url: URL) -> None:
    with postgres_admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


def create_mariadb_database(server: URL) -> URL:
    name = f"canvasflow_test_{secrets.token_hex(4)}"
    conn = mariadb_admin_connection()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return server.set(database=name, query={"charset": "utf8mb4"})


def drop_mariadb_database(url: URL) -> None:
    conn = mariadb_admin_connection()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{url.database}`")
    conn.close()


def _new_database(backend: str, request, tmp_path_factory) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'canvasflow.db'}"
    if backend == "postgresql":
        url = create_postgres_database(request.getfixturevalue("postgres_server"))
        request.addfinalizer(lambda: drop_postgres_database(url))
    else:
        url = create_mariadb_database(request.getfixturevalue("mariadb_server"))
        request.addfinalizer(lambda: drop_mariadb_database(url))
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path_factory) -> str:
    """A new, empty database (no tables) on each backend, for migration and script tests."""
    return _new_database(request.param, request, tmp_path_factory)


def make_test_app(database_url: str, **overrides):
    return create_app({**_config_dict(TestingConfig), "SQLALCHEMY_DATABASE_URI": database_url, **overrides})


def _config_dict(cls) -> dict:
    return {key: getattr(cls, key) for key in dir(cls) if key.isupper()}


@pytest.fixture(scope="session", params=BACKENDS)
def _migrated_app(request, tmp_path_factory):
    app = make_test_app(_new_database(request.param, request, tmp_path_factory))
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_migrated_app):
    """The app on a migrated database (each backend); tables are emptied after each test."""
    with _migrated_app.app_context():
        yield _migrated_app
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def backend(app) -> str:
    return db.engine.dialect.name


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


@pytest.fixture
def client(app):
    return app.test_client()
