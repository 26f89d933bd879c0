from datetime import datetime, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import Term, User
from app.services.canvas_streams import TERMS, term_row
from app.services.stream_writer import write_stream

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _terms(user_id, ids, name="Term"):
    return [term_row({"id": i, "name": f"{name} {i}"}, user_id=user_id, now=NOW) for i in ids]


def test_complete_write_counts_and_marks_missing_deleted(app):
    user = User(email="w@example.com", password_hash="x")
    db.session.add(user)
    db.session.commit()
    counts, ids = write_stream(db.session, TERMS, user.id, _terms(user.id, range(1, 6)), now=NOW, complete=True)
    assert (counts.created, counts.updated, counts.unchanged, counts.deleted) == (5, 0, 0, 0)
    assert set(ids) == {1, 2, 3, 4, 5}
    rows = _terms(user.id, [1, 2, 3]) + _terms(user.id, [4], name="Renamed")
    counts, _ = write_stream(db.session, TERMS, user.id, rows, now=NOW, complete=True)
    assert (counts.created, counts.updated, counts.unchanged, counts.deleted) == (0, 1, 3, 1)
    assert db.session.scalar(select(Term.deleted_at).where(Term.canvas_term_id == 5)) is not None


def test_partial_write_touches_only_its_rows(app):
    user = User(email="w@example.com", password_hash="x")
    db.session.add(user)
    db.session.commit()
    write_stream(db.session, TERMS, user.id, _terms(user.id, range(1, 1200)), now=NOW, complete=True)
    rows = _terms(user.id, [7], name="Changed") + _terms(user.id, [8, 5000])
    counts, ids = write_stream(db.session, TERMS, user.id, rows, now=NOW, complete=False)
    assert (counts.created, counts.updated, counts.unchanged, counts.deleted) == (1, 1, 1, 0)
    assert set(ids) == {7, 8, 5000}  # the ids of the rows written, not of every row of the parent
    assert db.session.scalar(select(func.count()).select_from(Term).where(Term.deleted_at.is_(None))) == 1200
