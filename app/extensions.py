"""Flask extensions, created unbound here and bound in create_app()."""
from __future__ import annotations

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

# Deterministic constraint names so Alembic can alter them on SQLite and MariaDB alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):  # pragma: no cover - trivial
    """WAL lets the planner read while a sync writes; foreign keys are off by default."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def begin_write(session: Session) -> None:
    """Open the session's next transaction as a writer: on SQLite with BEGIN IMMEDIATE.

    pysqlite opens transactions deferred: one that reads and then writes cannot wait for the
    write lock (when another writer committed since its read, SQLite answers "database is
    locked" at once, whatever the busy timeout). Taken at BEGIN, the lock is waited for
    (busy_timeout), and savepoints nest inside a real transaction. Whatever the session had
    open is committed first. Other backends: nothing to do.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    if connection.connection.dbapi_connection.in_transaction:
        session.commit()
        connection = session.connection()
    connection.exec_driver_sql("BEGIN IMMEDIATE")
