from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Term, User
from app.services.canvas_streams import TERMS
from app.services.upsert import upsert

TERM_KEY = TERMS.key  # (user_id, source_system, canvas_term_id): the unique key ON CONFLICT names


def _user() -> int:
    user = User(email="u@example.com", password_hash="x")
    db.session.add(user)
    db.session.commit()
    return user.id


def _rows(user_id, n, name="T", seen=None):
    seen = seen or datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [{"user_id": user_id, "canvas_term_id": i, "name": f"{name}{i}", "first_seen_at": seen,
             "raw_deflate": None, "content_hash": name} for i in range(n)]


def test_upsert_inserts_then_updates_without_duplicates(app):
    user_id = _user()
    upsert(db.session, Term, _rows(user_id, 2500), key=TERM_KEY, keep=("first_seen_at",))
    db.session.commit()
    later = datetime(2026, 6, 1, tzinfo=timezone.utc)
    upsert(db.session, Term, _rows(user_id, 2600, name="U", seen=later), key=TERM_KEY,
           keep=("first_seen_at",))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Term)) == 2600
    first = db.session.scalar(select(Term).where(Term.canvas_term_id == 7))
    assert first.name == "U7"
    assert first.first_seen_at == datetime(2026, 1, 1, tzinfo=timezone.utc)  # kept on update
    new = db.session.scalar(select(Term).where(Term.canvas_term_id == 2550))
    assert new.first_seen_at == later


def test_upsert_rolls_back_with_its_transaction(app):
    user_id = _user()
    upsert(db.session, Term, _rows(user_id, 10), key=TERM_KEY)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Term)) == 0


def test_upsert_of_nothing_is_a_no_op(app):
    assert upsert(db.session, Term, [], key=TERM_KEY) == 0


def test_aware_datetimes_round_trip_as_utc(app):
    user_id = _user()
    start = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    db.session.add(Term(user_id=user_id, canvas_term_id=1, name="x", start_at=start))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalar(select(Term.start_at))
    assert stored == start and stored.tzinfo is not None


def test_prepared_params_take_canvas_time_text_and_refuse_a_malformed_one(app):
    import pytest

    from app.services.upsert import prepared_upsert

    user_id = _user()
    seen = datetime(2026, 11, 1, tzinfo=timezone.utc)
    prepared = prepared_upsert(db.session.get_bind().dialect, Term, ("user_id", "canvas_term_id", "name", "start_at",
                                                                      "end_at", "first_seen_at"),
                               TERM_KEY)
    rows = [prepared.params((user_id, 1, "Z form", "2026-10-17T15:28:54Z", None, seen)),
            prepared.params((user_id, 2, "offset", "2026-10-17T09:28:54.5-06:00", "", seen))]
    prepared.execute(db.session, rows)
    db.session.commit()
    stored = dict(db.session.execute(select(Term.canvas_term_id, Term.start_at)).all())
    assert stored[1] == datetime(2026, 10, 17, 15, 28, 54, tzinfo=timezone.utc)
    assert stored[2] == datetime(2026, 10, 17, 15, 28, 54, 500000, tzinfo=timezone.utc)
    assert db.session.scalar(select(Term.end_at).where(Term.canvas_term_id == 2)) is None
    with pytest.raises(ValueError):
        prepared.params((user_id, 3, "bad", "2026-13-17T15:28:54Z", None, seen))
    with pytest.raises(ValueError, match="first_seen_at"):
        prepared_upsert(db.session.get_bind().dialect, Term, ("user_id", "canvas_term_id", "name"),
                        TERM_KEY)


def test_sqlite_and_postgresql_write_a_batch_at_once(app, backend):
    """SQLite: one INSERT ... VALUES (...), (...) per batch, not an executemany of one row at a
    time; PostgreSQL: COPY into a temporary table and one INSERT ... SELECT from it."""
    from sqlalchemy import event

    user_id = _user()
    calls = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO term"):
            calls.append(executemany)

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        upsert(db.session, Term, _rows(user_id, 2500), key=TERM_KEY)
        db.session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert db.session.scalar(select(func.count()).select_from(Term)) == 2500
    if backend == "sqlite":
        assert calls and not any(calls)  # each a single statement
        assert len(calls) <= 12  # 2,000 rows, then the rest in power-of-two sizes
    if backend == "postgresql":
        assert calls == []  # the rows came by COPY, not through an INSERT's execute or executemany


def test_rows_with_one_key_twice_keep_the_later_on_every_backend(app):
    user_id = _user()
    rows = _rows(user_id, 3) + _rows(user_id, 1, name="Later")
    upsert(db.session, Term, rows, key=TERM_KEY)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Term)) == 3
    assert db.session.scalar(select(Term.name).where(Term.canvas_term_id == 0)) == "Later0"


def test_mysql_literals_are_what_pymysql_writes():
    from pymysql import converters

    from app.services.upsert import _mysql_time_literal, mysql_literal

    values = ["plain", "O'Brien \\ 100% \n \x00 \u00e9\u4e2d", "", 0, -7, 2**62, True, False, None, 9.5, 10.0, 1e20,
              b"\x00\xff'", datetime(2026, 3, 1, 12, 30), datetime(2026, 3, 1, 12, 30, 5, 120)]
    for value in values:
        expected = converters.escape_item(value, "utf8mb4", mapping=converters.encoders)
        if isinstance(value, bytes):
            expected = "X'" + value.hex() + "'"  # PyMySQL's own form without the _binary introducer
        assert mysql_literal(value) == expected, value
    for text_time in ("2026-10-17T15:28:54Z", "2026-10-17T17:28:54+02:00", None, ""):
        parsed = None if not text_time else datetime.fromisoformat(text_time.replace("Z", "+00:00"))
        expected = "NULL" if parsed is None else converters.escape_datetime(
            parsed.astimezone(timezone.utc).replace(tzinfo=None))
        assert _mysql_time_literal(text_time) == expected
    with pytest.raises(ValueError):
        _mysql_time_literal("2026-13-45T99:00:00Z")
