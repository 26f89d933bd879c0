"""Bulk upsert of many rows in one statement per chunk, on whichever backend is bound.

INSERT ... ON CONFLICT DO UPDATE on SQLite and PostgreSQL, INSERT ... ON DUPLICATE KEY
UPDATE on MariaDB/MySQL, as multi-row statements (SQLite, MariaDB) or one executemany
(PostgreSQL): the database does the matching on the unique key, so a re-run never
duplicates and no row needs a SELECT first.

The statement is compiled once (`PreparedUpsert`) and run with `exec_driver_sql`, with
the rows turned into driver parameters here: SQLAlchemy's per-value bind processing
(three Python calls per timestamp) cost more than the database's own work on SQLite
(benchmark: 2.7x a raw executemany before, see docs/SCALING.md). Only columns whose
type needs converting are touched; the connection, transaction and events stay
SQLAlchemy's. A PreparedUpsert turns a tuple of values into driver parameters in any
thread (the sync's fetching threads do it for submissions, so the writer's thread only
fills in the local ids and runs the statement).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from functools import lru_cache
from itertools import chain
from operator import itemgetter
import re
import zlib

from pymysql import converters
from sqlalchemy import Boolean, LargeBinary

from sqlalchemy.orm import Session

from app.models.types import UTCDateTime

CHUNK = 2000


def upsert(session: Session, model, rows: Sequence[dict], *, key: Sequence[str], keep: Sequence[str] = ()) -> int:
    """Insert `rows` or update them in place on a `key` conflict; columns in `keep` keep old values."""
    if not rows:
        return 0
    columns = tuple(rows[0].keys())
    prepared = prepared_upsert(session.get_bind().dialect, model, columns, tuple(key), tuple(keep))
    getter = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    params = prepared.params
    prepared.execute(session, [params(getter(row)) for row in rows])
    return len(rows)


@lru_cache(maxsize=64)
def prepared_upsert(dialect, model, columns: tuple[str, ...], key: tuple[str, ...],
                    keep: tuple[str, ...] = (), open_columns: tuple[str, ...] | None = None) -> PreparedUpsert:
    """A PreparedUpsert, compiled once per dialect and shape (a compile is ~1 ms, measured)."""
    return PreparedUpsert(dialect, model, columns, key=key, keep=keep, open_columns=open_columns)


class PreparedUpsert:
    """One upsert statement for `columns` of `model`, compiled once for `dialect`.

    `params(values)` turns a sequence of values in `columns` order into what the driver
    takes (a list, or a dict for named paramstyles) and is safe to call from any thread;
    `slot(column)` is where a column's value sits in it, for a caller that fills a value
    in later (a local id only the writer knows). UTCDateTime columns take aware
    datetimes or ISO 8601 text as Canvas sends it ("2026-10-17T15:28:54Z").

    `open_columns`, on MariaDB/MySQL through PyMySQL: `params` also turns every other value
    into its SQL literal, and `execute` joins the rows into one multi-row INSERT itself.
    PyMySQL's executemany escapes every value in Python on the writer's thread (measured:
    the writer took 2.3 s of CPU on MariaDB vs 1.2 s on SQLite); this way the fetching
    threads do it, and the writer escapes only the open columns (the ids it reads or fills
    in). The literals are PyMySQL's own (its converters), so the SQL is what it would send.
    """

    def __init__(self, dialect, model, columns: Sequence[str], *, key: Sequence[str], keep: Sequence[str] = (),
                 open_columns: Sequence[str] | None = None):
        table = model.__table__
        columns = list(columns)
        update_columns = [c for c in columns if c not in set(key) | set(keep)]
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert

            stmt = insert(table)
            stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update_columns})
        elif dialect.name in ("sqlite", "postgresql"):
            insert = _conflict_insert(dialect.name)
            stmt = insert(table)
            stmt = stmt.on_conflict_do_update(index_elements=list(key),
                                              set_={c: stmt.excluded[c] for c in update_columns})
        else:  # pragma: no cover - every supported backend is above
            raise NotImplementedError(f"no upsert for {dialect.name}")
        compiled = stmt.compile(dialect=dialect, column_keys=columns)
        self.positional = compiled.positional
        order = [compiled.binds[name].key for name in compiled.positiontup] if self.positional else columns
        binds = compiled.positiontup if self.positional else compiled.binds
        if missing := [compiled.binds[name].key for name in binds if compiled.binds[name].key not in columns]:
            # SQLAlchemy adds columns with a Python-side default; exec_driver_sql would not fill them.
            raise ValueError(f"an upsert of {table.name} needs values for {', '.join(missing)} too")
        self.order = order
        self.sql = str(compiled)
        self._pick = itemgetter(*[columns.index(name) for name in order]) if len(order) > 1 else \
            (lambda values: (values[0],))
        self._converters = [(i, f) for i, name in enumerate(order)
                            if (f := _converter(table.c[name].type, dialect)) is not None]
        # How a batch of rows reaches the database (None: one executemany).
        self._literal = None
        self._bulk: _MySQLRows | _ValuesRows | _PostgresCopy | None = None
        if open_columns is not None and dialect.name in ("mysql", "mariadb") and dialect.driver == "pymysql":
            literals = [_literal_for(table.c[name].type, dialect) for name in order]
            self._bulk = self._literal = _MySQLRows(self.sql, compiled, order, open_columns, literals)
            # The closed columns' literals convert their values themselves (a time straight from
            # Canvas's text); only the open ones keep a converter.
            self._converters = [(i, f) for i, f in self._converters if i in self._literal.open]
        elif dialect.name == "sqlite":
            self._bulk = _ValuesRows.of(self.sql, len(order))
        elif dialect.name == "postgresql" and dialect.driver == "psycopg":
            self._bulk = _PostgresCopy.of(self.sql, compiled, order, [order.index(c) for c in key if c in order])

    def slot(self, column: str) -> int | str:
        return self.order.index(column) if self.positional or self._bulk else column

    def params(self, values: Sequence) -> list | dict:
        v = list(self._pick(values))
        for i, f in self._converters:
            x = v[i]
            if x is not None:
                v[i] = f(x)
        if self._literal:
            return self._literal.close(v)
        return v if self.positional or self._bulk else dict(zip(self.order, v))

    def execute(self, session: Session, params: list, chunk: int = CHUNK) -> None:
        connection = session.connection()
        if self._bulk:
            self._bulk.execute(connection, params)
            return
        if self.positional:
            params = [tuple(p) for p in params]  # SQLAlchemy takes tuples or dicts, not lists
        for start in range(0, len(params), chunk):
            connection.exec_driver_sql(self.sql, params[start:start + chunk])


class _ValuesRows:
    """PreparedUpsert's multi-row INSERT for SQLite: one statement for many rows.

    sqlite3's executemany steps the statement once per row, releasing the GIL and taking it
    back each time: with the sync's fetching threads busy on the other core, every row was a
    hand-off to another thread and back (measured: the syncing process's kernel time halved
    without it). One `INSERT ... VALUES (...), (...) ... ON CONFLICT` per batch is one step.
    SQLite lets the later of two rows with one key win, as the executemany did. (PostgreSQL
    keeps psycopg's pipelined executemany: psycopg parses a long statement's placeholders in
    Python on every call, which cost more than it saved, measured.)
    """

    VALUES = re.compile(r"^(?P<head>INSERT INTO .+? VALUES )(?P<group>\([?, ]+\))(?P<tail> ON CONFLICT .+)$", re.S)

    def __init__(self, head: str, group: str, tail: str, width: int):
        self.head, self.group, self.tail = head, group, tail
        self.rows_per_statement = max(1, min(CHUNK, _sqlite_max_variables() // width))
        self._statements: dict[int, str] = {}

    @classmethod
    def of(cls, sql: str, width: int) -> _ValuesRows | None:
        m = cls.VALUES.match(sql)
        if m is None or m.group("group").count("?") != width:  # pragma: no cover - SQLAlchemy's form
            return None
        return cls(m.group("head"), m.group("group"), m.group("tail"), width)

    def statement(self, rows: int) -> str:
        sql = self._statements.get(rows)
        if sql is None:
            sql = self._statements[rows] = self.head + ", ".join([self.group] * rows) + self.tail
        return sql

    def execute(self, connection, rows: list) -> None:
        start = 0
        while start < len(rows):
            # Full statements, then the rest in power-of-two sizes: a handful of statement texts
            # (each prepared once and cached by sqlite3), whatever the row counts.
            left = len(rows) - start
            size = self.rows_per_statement if left >= self.rows_per_statement else 1 << (left.bit_length() - 1)
            chunk = rows[start:start + size]
            start += size
            connection.exec_driver_sql(self.statement(size), tuple(chain.from_iterable(chunk)))


class _PostgresCopy:
    """PreparedUpsert's batch on PostgreSQL (psycopg 3): COPY into a temporary table, then one
    `INSERT ... SELECT ... ON CONFLICT` from it.

    psycopg's executemany binds and sends each row in Python (13-16 ms of client CPU per 1,000
    rows, measured); COPY streams them (4 ms). A long multi-row VALUES statement was no better:
    psycopg parses its placeholders in Python on every call. The temporary table lives as long
    as the connection (made again after a rollback took it) and is emptied after each batch; the rows travel in COPY's text format, so
    PostgreSQL reads each value as it would a literal of the column's type.
    """

    NAMED = re.compile(r"%\(([^)]+)\)s")
    HEAD = re.compile(r"^INSERT INTO (?P<table>\S+) \((?P<columns>[^()]+)\) VALUES (?P<group>\(.*?\)) (?P<tail>ON CONFLICT .+)$",
                      re.S)

    def __init__(self, table: str, columns: str, sql_order, key: list[int], tail: str):
        # One per table and column list (upserts of one table may name different columns).
        self.temp = f"upsert_{table.strip(chr(34))}_{zlib.crc32(columns.encode()):08x}"
        # The columns' types only: no constraints, defaults or identity (the real table has them).
        self.create = f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.temp} AS SELECT {columns} FROM {table} WITH NO DATA"
        self.copy = f"COPY {self.temp} ({columns}) FROM STDIN"
        self.insert = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {self.temp} {tail}"
        self.empty = f"TRUNCATE {self.temp}"
        self.sql_order = sql_order
        # PostgreSQL refuses one statement updating a row twice; an executemany (and SQLite) let the
        # later of two rows with one key win: so does this (a key column left to its default is the
        # same in every row, so the other key columns tell rows apart).
        self.key = (itemgetter(*key) if len(key) > 1 else itemgetter(key[0])) if key else None

    @classmethod
    def of(cls, sql: str, compiled, order: list[str], key: list[int]) -> _PostgresCopy | None:
        m = cls.HEAD.match(sql)
        if m is None:  # pragma: no cover - SQLAlchemy's single-row INSERT ... ON CONFLICT always matches
            return None
        names = [compiled.binds[name].key for name in cls.NAMED.findall(m.group("group"))]
        if sorted(names) != sorted(order):  # pragma: no cover - every column is one bind
            return None
        sql_order = itemgetter(*[order.index(name) for name in names])
        return cls(m.group("table"), m.group("columns"), sql_order, key, m.group("tail"))

    def execute(self, connection, rows: list) -> None:
        if not rows:
            return
        if self.key is not None and len({self.key(row) for row in rows}) != len(rows):
            rows = list({self.key(row): row for row in rows}.values())
        cursor = connection.connection.driver_connection.cursor()
        try:
            # Every batch: a rolled-back transaction takes a table it created with it.
            cursor.execute(self.create)
            with cursor.copy(self.copy) as copy:
                for row in rows:
                    copy.write_row(self.sql_order(row))
            cursor.execute(self.insert)
            cursor.execute(self.empty)
        finally:
            cursor.close()


def _sqlite_max_variables() -> int:
    """The bound parameters one SQLite statement may hold (999 before SQLite 3.32, 32,766 after)."""
    import sqlite3

    probe = sqlite3.connect(":memory:")
    try:
        return probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        probe.close()


class _MySQLRows:
    """PreparedUpsert's multi-row INSERT text for PyMySQL (see PreparedUpsert)."""

    MAX_STATEMENT = 1024000  # PyMySQL's own split point for executemany

    def __init__(self, sql: str, compiled, order: list[str], open_columns: Sequence[str], literals: list):
        from pymysql.cursors import RE_INSERT_VALUES

        m = RE_INSERT_VALUES.match(sql)
        if m is None:  # pragma: no cover - SQLAlchemy's INSERT ... VALUES always matches
            raise ValueError("not a single-row INSERT ... VALUES statement")
        # Without parameters the driver does no %-formatting: undo the doubling of a literal %.
        self.prefix, self.postfix = m.group(1).replace("%%", "%"), (m.group(3) or "").replace("%%", "%")
        names = [compiled.binds[name].key for name in re.findall(r"%\(([^)]+)\)s", m.group(2))]
        self.sql_order = itemgetter(*[order.index(name) for name in names])
        self.open = [order.index(name) for name in open_columns]
        self.closed = [(i, literals[i]) for i in range(len(order)) if i not in set(self.open)]

    def close(self, v: list) -> list:
        for i, literal in self.closed:
            v[i] = literal(v[i])
        return v

    def execute(self, connection, rows: list) -> None:
        if self._no_backslash_escapes(connection):  # pragma: no cover - not this project's sql_mode
            raise RuntimeError("pre-escaped rows need the server's default backslash escapes")
        statements, parts, size = [], [], len(self.prefix) + len(self.postfix)
        for row in rows:
            row = row[:]
            for i in self.open:
                row[i] = mysql_literal(row[i])
            text = "(" + ",".join(self.sql_order(row)) + ")"
            if parts and size + len(text) + 1 > self.MAX_STATEMENT:
                statements.append(parts)
                parts, size = [], len(self.prefix) + len(self.postfix)
            parts.append(text)
            size += len(text) + 1
        if parts:
            statements.append(parts)
        for parts in statements:
            connection.exec_driver_sql(self.prefix + ",".join(parts) + self.postfix,
                                       execution_options={"no_parameters": True})

    @staticmethod
    def _no_backslash_escapes(connection) -> bool:
        from pymysql.constants import SERVER_STATUS

        raw = connection.connection.driver_connection
        return bool(raw.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES)


def mysql_literal(value) -> str:
    """A value as PyMySQL writes it into SQL (Connection.escape, default backslash escapes)."""
    fast = _MYSQL_LITERALS.get(type(value))
    if fast is not None:
        return fast(value)
    if isinstance(value, str):
        return "'" + converters.escape_string(value) + "'"
    if isinstance(value, (bytes, bytearray)):
        return "X'" + value.hex() + "'"
    return converters.escape_item(value, "utf8mb4", mapping=converters.encoders)


# The types a row holds, by exact type (a bool is not an int here), each as PyMySQL's
# converters write it, without their dispatch (measured: most of a MariaDB row's cost).
_MYSQL_LITERALS = {
    str: lambda v: "'" + converters.escape_string(v) + "'",
    bytes: lambda v: "X'" + v.hex() + "'",
    int: str,
    bool: lambda v: "1" if v else "0",
    type(None): lambda v: "NULL",
    float: converters.escape_float,
    datetime: converters.escape_datetime,
}


def _mysql_time_literal(value: datetime | str | None) -> str:
    # Canvas's own UTC form goes straight to the literal PyMySQL would write for its datetime.
    if type(value) is str and len(value) == 20 and value[19] == "Z" and value[10] == "T":
        datetime.fromisoformat(value[:19])  # validates (ValueError for a malformed time)
        return f"'{value[:10]} {value[11:19]}'"
    value = None if value is None else _naive_utc(value)
    return "NULL" if value is None else converters.escape_datetime(value)


def _literal_for(type_, dialect):
    """The SQL literal of a column's value (as Canvas sends it, or a Python value)."""
    if isinstance(type_, UTCDateTime):
        return _memo(_mysql_time_literal)
    convert = _converter(type_, dialect)
    if convert is None:
        return mysql_literal
    return lambda value: mysql_literal(None if value is None else convert(value))


def _memo(f, size: int = 64):
    """Rows of one write share timestamps (first_seen_at, last_synced_canvas): convert each once.

    Only datetimes are remembered (Canvas's time strings are mostly distinct), at most `size`
    (then it starts over: a cached statement lives as long as the process).
    """
    cache: dict = {}

    def convert(value):
        if type(value) is not datetime:
            return f(value)
        out = cache.get(value)
        if out is None:
            out = f(value)
            if len(cache) >= size:
                cache.clear()
            cache[value] = out
        return out

    return convert


def _naive_utc(value: datetime | str) -> datetime | None:
    if type(value) is str:
        if len(value) == 20 and value[19] == "Z" and value[10] == "T":  # Canvas's own form: already UTC
            return datetime.fromisoformat(value[:19])
        if not value:
            return None
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo is not None else value


def _sqlite_text(value: datetime | str) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, microseconds always written
    if type(value) is str and len(value) == 20 and value[19] == "Z" and value[10] == "T":
        datetime.fromisoformat(value[:19])  # validates (ValueError for a malformed time, as before)
        return f"{value[:10]} {value[11:19]}.000000"  # Canvas's own UTC form: 3x faster than parse + format
    value = _naive_utc(value)
    return None if value is None else value.isoformat(" ", "microseconds")


def _converter(type_, dialect):
    """A one-call converter for a column's values, or None when the driver takes them as they are."""
    if isinstance(type_, UTCDateTime):
        return _memo(_sqlite_text if dialect.name == "sqlite" else _naive_utc)
    if isinstance(type_, (Boolean, LargeBinary)):
        # Every driver here takes Python bools and bytes as they are (sqlite3 stores bytes as a
        # BLOB and True as 1, as SQLAlchemy's processors would); skip a call per value.
        return None
    return type_._cached_bind_processor(dialect)


def _conflict_insert(dialect: str):
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert
