"""The benchmark's databases: server reachability, throwaway SQLite files / MariaDB / PostgreSQL databases,
schema migration, the bench user, and what a synced database holds (size, live row counts)."""
from __future__ import annotations

import os
import secrets
import tempfile

from bench.phase import make_app

MARIADB_SERVER = os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/")
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
EMAIL = "bench@example.test"


def mariadb_reachable() -> bool:
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MARIADB_SERVER)
    try:
        pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                        connect_timeout=3).close()
        return True
    except pymysql.MySQLError:
        return False


def _postgres_admin():
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_SERVER)
    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password or None,
                           dbname=url.database, connect_timeout=3, autocommit=True)


def postgres_reachable() -> bool:
    import psycopg

    try:
        _postgres_admin().close()
        return True
    except psycopg.Error:
        return False


class Databases:
    """Throwaway databases: SQLite files in a temp dir, `canvasflow_bench_<hex>` on MariaDB (dropped)."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="canvasflow-bench-")
        self.mariadb: list[str] = []
        self.postgres: list[str] = []

    def new(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp.name}/{secrets.token_hex(4)}.db"
        if backend == "postgresql":
            from sqlalchemy.engine import make_url

            name = f"canvasflow_bench_{secrets.token_hex(4)}"
            with _postgres_admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.postgres.append(name)
            return make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
        import pymysql
        from sqlalchemy.engine import make_url

        name = f"canvasflow_bench_{secrets.token_hex(4)}"
        url = make_url(MARIADB_SERVER)
        conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                               autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        conn.close()
        self.mariadb.append(name)
        return url.set(database=name, query={"charset": "utf8mb4"}).render_as_string(hide_password=False)

    def close(self) -> None:
        if self.mariadb:
            import pymysql
            from sqlalchemy.engine import make_url

            url = make_url(MARIADB_SERVER)
            conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username,
                                   password=url.password or "", autocommit=True)
            with conn.cursor() as cur:
                for name in self.mariadb:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()
        if self.postgres:
            with _postgres_admin() as conn:
                for name in self.postgres:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.tmp.cleanup()


def migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    import logging

    logging.getLogger().setLevel(logging.WARNING)


def add_user(app, sb, email: str = EMAIL) -> None:
    """The user `email` with the Canvas URL and token of sandbox `sb`."""
    from app.extensions import db
    from app.models import User

    with app.app_context():
        user = User(email=email)
        user.set_password("bench-password")
        user.canvas_base_url = sb.base_url
        user.canvas_token = sb.token
        db.session.add(user)
        db.session.commit()
        db.session.remove()


def database_size_mb(database_url: str) -> float:
    """Bytes the synced data takes: SQLite pages in use, InnoDB data + index length (after ANALYZE)."""
    from sqlalchemy import text

    from app.extensions import db

    app = make_app(database_url)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
                free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
                size = (pages - free) * conn.exec_driver_sql("PRAGMA page_size").scalar()
        elif db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                size = conn.execute(text("SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                                         "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")).scalar()
        else:
            with db.engine.connect() as conn:
                tables = [r[0] for r in conn.execute(text("SHOW TABLES"))]
                for table in tables:
                    conn.exec_driver_sql(f"ANALYZE TABLE `{table}`").all()
                size = conn.execute(text("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                                         "WHERE table_schema = DATABASE()")).scalar()
        db.session.remove()
        db.engine.dispose()
    return round(float(size) / 2**20, 1)


def table_counts(database_url: str) -> dict:
    """Live (not soft-deleted) rows per synced table."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Assignment, Course, GradeCategory, Submission, Term

    app = make_app(database_url)
    with app.app_context():
        counts = {m.__tablename__: db.session.scalar(select(func.count()).select_from(m).where(m.deleted_at.is_(None)))
                  for m in (Term, Course, GradeCategory, Assignment, Submission)}
        db.session.remove()
        db.engine.dispose()
    return counts


def bytes_per_submission(database_url: str) -> float | None:
    """Bytes the submission table takes per row, data and indexes together.

    MariaDB: information_schema's data_length + index_length after ANALYZE TABLE (InnoDB's
    page estimate; the issue's measure). SQLite: the bytes of the pages of the table and its
    indexes (dbstat), the same quantity measured exactly.
    """
    from sqlalchemy import text

    from app.extensions import db

    app = make_app(database_url)
    with app.app_context():
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT COUNT(*) FROM submission")).scalar()
            if db.engine.dialect.name == "sqlite":
                size = conn.exec_driver_sql(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name = 'submission' OR name IN "
                    "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'submission')").scalar()
            elif db.engine.dialect.name == "postgresql":
                size = conn.execute(text("SELECT pg_total_relation_size('submission')")).scalar()
            else:
                conn.exec_driver_sql("ANALYZE TABLE `submission`").all()
                size = conn.execute(text("SELECT data_length + index_length FROM information_schema.tables "
                                         "WHERE table_schema = DATABASE() AND table_name = 'submission'")).scalar()
        db.session.remove()
        db.engine.dispose()
    return round(float(size) / rows, 1) if rows and size else None


def raw_bytes_per_submission(database_url: str) -> float | None:
    """The stored (compressed) raw JSON's mean length per submission row: most of a row."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Submission

    app = make_app(database_url)
    with app.app_context():
        mean = db.session.scalar(select(func.avg(func.length(Submission.raw_deflate))))
        db.session.remove()
        db.engine.dispose()
    return round(float(mean), 1) if mean is not None else None
