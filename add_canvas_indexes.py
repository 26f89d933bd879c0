"""Add the Canvas sync indexes to an existing database, idempotently.

    DATABASE_URL=mysql+pymysql://user:p%23ss@host/db python add_canvas_indexes.py

Inspects the live schema, creates only the indexes that are missing and prints what
it created and what already existed. Rows are never touched, so it is safe to run on a
populated database, and running it twice creates nothing the second time.
"""
from __future__ import annotations

import os
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from app.sync.maintenance import MissingTablesError, ensure_sync_indexes
from config import Config


def main() -> int:
    url = os.environ.get("DATABASE_URL") or Config.SQLALCHEMY_DATABASE_URI
    try:
        safe_url = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        print(f"DATABASE_URL is not a usable database URL: {exc}", file=sys.stderr)
        return 2
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        report = ensure_sync_indexes(engine)
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        print(f"Cannot reach the database at {safe_url}: {reason}", file=sys.stderr)
        return 2
    except MissingTablesError as exc:
        print(
            f"The database at {safe_url} has no tables {exc}. "
            "Create the schema first with: flask --app run db upgrade",
            file=sys.stderr,
        )
        return 3
    finally:
        engine.dispose()
    for name in report.created:
        print(f"created  {name}")
    for name in report.existing:
        print(f"exists   {name}")
    print(f"{len(report.created)} created, {len(report.existing)} already existed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
