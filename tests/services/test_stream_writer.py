import json
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


def _course_and_assignments(user_id: int, canvas_ids=(11, 12)):
    from app.models import Course
    from app.services.canvas_streams import ASSIGNMENTS, COURSES, assignment_row, course_row

    counts, course_ids = write_stream(db.session, COURSES, user_id, [course_row({"id": 5, "name": "C"}, user_id=user_id,
                                                                                term_id=None, now=NOW)],
                                      now=NOW, complete=False)
    course_id = course_ids[5]
    rows = [assignment_row({"id": a, "name": f"A{a}"}, course_id=course_id, canvas_course_id=5, group_ids={}, now=NOW)
            for a in canvas_ids]
    _, assignment_ids = write_stream(db.session, ASSIGNMENTS, course_id, rows, now=NOW, complete=True)
    assert db.session.get(Course, course_id) is not None
    return course_id, assignment_ids


def _submission(sid, assignment_id=11, **fields):
    return {"id": sid, "assignment_id": assignment_id, "user_id": 100 + sid, "score": 5.0, "grade": "5",
            "workflow_state": "graded", "submitted_at": "2026-10-17T15:28:54Z", "graded_at": None,
            "late": False, "missing": False, "excused": None, "seconds_late": sid, **fields}


def _pages(prepared, objects, per_page=2, now=NOW):
    from app.services.canvas_streams import submission_values

    rows = [prepared.params(submission_values(o, now=now)) for o in objects]
    return [rows[i:i + per_page] for i in range(0, len(rows), per_page)]


def test_write_pages_stores_driver_rows_made_elsewhere_and_diffs_by_hash(app):
    from datetime import timedelta

    from app.models import Submission
    from app.services.canvas_streams import SUBMISSION_COLUMNS, SUBMISSION_OPEN_COLUMNS, SUBMISSIONS, parse_time
    from app.services.stream_writer import write_pages
    from app.services.upsert import PreparedUpsert

    user = User(email="w@example.com", password_hash="x")
    db.session.add(user)
    db.session.commit()
    course_id, assignment_ids = _course_and_assignments(user.id)
    # As the sync prepares it (on MariaDB the fetching threads then write SQL literals).
    prepared = PreparedUpsert(db.session.get_bind().dialect, Submission, SUBMISSION_COLUMNS, key=SUBMISSIONS.key,
                              keep=("first_seen_at",), open_columns=SUBMISSION_OPEN_COLUMNS)
    dialect = db.session.get_bind().dialect
    assert (prepared._literal is not None) == (dialect.driver == "pymysql")
    lookup = ("assignment_id", "canvas_assignment_id", assignment_ids)
    odd = "50% (it's \\ \"late\")"  # quotes, a backslash and a percent sign: SQL literals must survive them
    objects = [_submission(1, grade=odd), _submission(2, submitted_at="2026-10-17T09:28:54.250-06:00"),
               _submission(3, assignment_id=12, submitted_at="", graded_at="2026-10-20T00:19:31Z"),
               _submission(4, assignment_id=99),  # an assignment we do not have: dropped
               _submission(1, grade=odd)]  # sent twice (overlapping calls): written once
    counts = write_pages(db.session, SUBMISSIONS, prepared, course_id, _pages(prepared, objects), lookup, now=NOW,
                         complete=True, fresh=True)
    db.session.commit()
    assert (counts.created, counts.updated, counts.unchanged, counts.deleted) == (3, 0, 0, 0)
    stored = {s.canvas_submission_id: s for s in db.session.scalars(select(Submission))}
    assert set(stored) == {1, 2, 3}
    assert stored[1].submitted_at == parse_time("2026-10-17T15:28:54Z") and stored[1].graded_at is None
    assert stored[2].submitted_at == parse_time("2026-10-17T09:28:54.250-06:00")
    assert stored[2].submitted_at == datetime(2026, 10, 17, 15, 28, 54, 250000, tzinfo=timezone.utc)
    assert stored[3].submitted_at is None and stored[3].graded_at == datetime(2026, 10, 20, 0, 19, 31,
                                                                                tzinfo=timezone.utc)
    assert stored[3].assignment_id == assignment_ids[12] and stored[1].course_id == course_id
    assert stored[1].first_seen_at == NOW and stored[1].excused is False and stored[2].grade == "5"
    assert stored[1].grade == odd
    assert json.loads(stored[1].raw_json)["id"] == 1 and "seconds_late" not in json.loads(stored[1].raw_json)

    # Again, over the rows now there: only what Canvas changed is written; seconds_late is not a change.
    later = NOW + timedelta(days=1)
    again = [_submission(1, grade=odd, seconds_late=999), _submission(2, submitted_at="2026-10-17T09:28:54.250-06:00", score=9.0)]
    counts = write_pages(db.session, SUBMISSIONS, prepared, course_id, _pages(prepared, again, now=later), lookup, now=later,
                         complete=True)
    db.session.commit()
    assert (counts.created, counts.updated, counts.unchanged, counts.deleted) == (0, 1, 1, 1)
    db.session.expire_all()
    stored = {s.canvas_submission_id: s for s in db.session.scalars(select(Submission))}
    assert stored[2].score == 9.0 and stored[2].first_seen_at == NOW and stored[2].last_synced_canvas == later
    assert stored[1].last_synced_canvas == NOW  # unchanged: not written
    assert stored[3].deleted_at == later  # not sent by a complete set: deleted
