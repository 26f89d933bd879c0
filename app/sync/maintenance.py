"""Schema maintenance that operators run against live databases."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Index, inspect
from sqlalchemy.engine import Engine

from app.extensions import db
from app.models.canvas import SYNC_INDEX_NAMES


class MissingTablesError(Exception):
    pass


@dataclass
class IndexReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def sync_indexes() -> list[Index]:
    by_name = {index.name: index for table in db.metadata.tables.values() for index in table.indexes}
    return [by_name[name] for name in SYNC_INDEX_NAMES]


def ensure_sync_indexes(engine: Engine) -> IndexReport:
    """Create the sync indexes the live schema lacks; never touches rows or other indexes."""
    indexes = sync_indexes()
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    missing = sorted({index.table.name for index in indexes} - tables)
    if missing:
        raise MissingTablesError(", ".join(missing))
    present = {
        table: {ix["name"] for ix in inspector.get_indexes(table)}
        for table in {index.table.name for index in indexes}
    }
    report = IndexReport()
    for index in indexes:
        if index.name in present[index.table.name]:
            report.existing.append(index.name)
            continue
        with engine.begin() as conn:
            index.create(conn)
        report.created.append(index.name)
    return report


def drop_sync_indexes(engine: Engine) -> list[str]:
    """Drop the sync indexes (for benchmarks and tests of an un-indexed database)."""
    inspector = inspect(engine)
    dropped = []
    for index in sync_indexes():
        if index.name in {ix["name"] for ix in inspector.get_indexes(index.table.name)}:
            with engine.begin() as conn:
                index.drop(conn)
            dropped.append(index.name)
    return dropped
