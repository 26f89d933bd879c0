"""Bulk upsert of many rows in one statement per chunk, on whichever backend is bound.

INSERT ... ON CONFLICT DO UPDATE on SQLite and PostgreSQL, INSERT ... ON DUPLICATE KEY
UPDATE on MariaDB/MySQL, executed as one executemany: the database does the matching
on the unique key, so a re-run never duplicates and no row needs a SELECT first.
"""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

CHUNK = 2000


def upsert(session: Session, model, rows: Sequence[dict], *, key: Sequence[str], keep: Sequence[str] = ()) -> int:
    """Insert `rows` or update them in place on a `key` conflict; columns in `keep` keep old values."""
    if not rows:
        return 0
    table = model.__table__
    dialect = session.get_bind().dialect.name
    columns = list(rows[0].keys())
    update_columns = [c for c in columns if c not in set(key) | set(keep)]
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert

        stmt = insert(table)
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update_columns})
    elif dialect in ("sqlite", "postgresql"):
        insert = _conflict_insert(dialect)
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in update_columns})
    else:  # pragma: no cover - every supported backend is above
        raise NotImplementedError(f"no upsert for {dialect}")
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, list(rows[start:start + CHUNK]))
    return len(rows)


def _conflict_insert(dialect: str):
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert
