"""SourceStore on every backend: a connector's Changes land in the Canvas tables beside Canvas rows.

The connector here is a small in-test subclass that yields Changes in the contract's
neutral shape (a unit test of the store; the real connectors are tested over HTTP
against their sandboxes).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Assignment, Course, Submission, Term, User
from app.models.canvas import derived_id
from app.services.canvas_streams import COURSES, course_row
from app.services.stream_writer import write_stream
from app.sync.connectors.base import Change, Connector
from app.sync.errors import TransientError
from app.sync.sources.store import SourceStore

DUE = datetime(2026, 12, 10, 17, 0, tzinfo=timezone.utc)


class ListConnector(Connector):
    """Yields what the test gives it, like a connector's pull would."""

    name = "classroom"
    writable = False

    def __init__(self, changes):
        self.changes = changes

    def pull(self, since):
        yield from self.changes


def _user(email="s@example.edu") -> int:
    user = User(email=email, password_hash="x")
    db.session.add(user)
    db.session.commit()
    return user.id


def course(cid, name="Biology", system="classroom", term=None):
    return Change(system, "course", cid, data={"name": name, "course_code": None, "term_name": term,
                                               "html_url": f"https://x/{cid}", "workflow_state": "active",
                                               "raw": {"id": cid, "name": name}})


def assignment(aid, cid, name="Essay", due=DUE, points=10.0, system="classroom"):
    return Change(system, "assignment", aid, parent_external_id=cid,
                  data={"name": name, "due_at": due, "points_possible": points, "html_url": None,
                        "published": True, "updated_at": None, "raw": {"id": aid, "title": name}})


def submission(sid, aid, cid, student="109876543210987654321", score=None, state="unsubmitted",
               system="classroom"):
    return Change(system, "submission", sid, parent_external_id=aid,
                  data={"course_external_id": cid, "student_external_id": student, "score": score,
                        "grade": None if score is None else str(score), "submitted_at": None,
                        "graded_at": None, "workflow_state": state, "late": False, "missing": False,
                        "raw": {"id": sid, "state": state}})


def complete(scope, types, system="classroom"):
    return Change(system, "snapshot_complete", scope, data={"entity_types": types})


def full_pull(cid="C1"):
    return [course(cid, term="Fall 2026"),
            assignment("W1", cid, "Essay"), assignment("W2", cid, "Quiz", due=None),
            submission("Cg4IzAbc", "W1", cid, score=8.0, state="graded"),
            submission("Cg4IzDef", "W2", cid),
            complete(cid, ["assignment", "submission"]),
            complete("", ["course"])]


def store(user_id, changes, system="classroom", **kwargs):
    return SourceStore(db.session, user_id, system, **kwargs).store(ListConnector(changes).pull(None))


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_first_pull_stores_rows_with_source_and_external_ids(app):
    user_id = _user()
    result = store(user_id, full_pull())
    assert result.counts["courses"].created == 1
    assert result.counts["assignments"].created == 2
    assert result.counts["submissions"].created == 2
    assert result.courses_committed == 1 and result.skipped == 0

    c = db.session.scalars(select(Course)).one()
    assert (c.source_system, c.external_id, c.name) == ("classroom", "C1", "Biology")
    assert c.canvas_course_id == derived_id("classroom", "C1") and c.source_label == "Classroom"
    assert c.source_id == "C1"
    assert c.term.name == "Fall 2026" and c.term.source_system == "classroom"
    essay = db.session.scalars(select(Assignment).where(Assignment.external_id == "W1")).one()
    assert (essay.source_system, essay.due_at, essay.points_possible) == ("classroom", DUE, 10.0)
    assert essay.raw_json == '{"id":"W1","title":"Essay"}'
    sub = db.session.scalars(select(Submission).where(Submission.external_id == "Cg4IzAbc")).one()
    assert (sub.assignment_id, sub.score, sub.workflow_state) == (essay.id, 8.0, "graded")
    # a 21-digit Google user id does not fit BIGINT: its derived id does, and is stable
    assert sub.canvas_user_id == derived_id("classroom", "109876543210987654321") < 2**63


def test_second_identical_pull_rewrites_nothing(app):
    user_id = _user()
    store(user_id, full_pull())
    before = db.session.scalar(select(Submission.last_synced_canvas).where(Submission.external_id == "Cg4IzAbc"))
    result = store(user_id, full_pull(), now=datetime.now(timezone.utc) + timedelta(hours=1))
    for entity in ("courses", "assignments", "submissions"):
        counts = result.counts[entity]
        assert (counts.created, counts.updated, counts.deleted) == (0, 0, 0), entity
    assert result.counts["submissions"].unchanged == 2
    db.session.expire_all()
    after = db.session.scalar(select(Submission.last_synced_canvas).where(Submission.external_id == "Cg4IzAbc"))
    assert after == before  # unchanged hash: the row was not written


def test_changed_row_is_updated_in_place(app):
    user_id = _user()
    store(user_id, full_pull())
    changes = full_pull()
    changes[1] = assignment("W1", "C1", "Essay (revised)", points=20.0)
    result = store(user_id, changes)
    assert result.counts["assignments"].updated == 1 and result.counts["assignments"].unchanged == 1
    assert _count(Assignment) == 2
    assert db.session.scalar(select(Assignment.name).where(Assignment.external_id == "W1")) == "Essay (revised)"


def test_complete_scope_marks_missing_rows_deleted_and_revives_them(app):
    user_id = _user()
    store(user_id, full_pull())
    without_quiz = [c for c in full_pull() if c.external_id not in ("W2", "Cg4IzDef")]
    result = store(user_id, without_quiz)
    assert result.counts["assignments"].deleted == 1
    assert result.counts["submissions"].deleted == 1
    quiz = db.session.scalars(select(Assignment).where(Assignment.external_id == "W2")).one()
    assert quiz.deleted_at is not None
    assert db.session.scalar(select(Submission.deleted_at).where(Submission.external_id == "Cg4IzDef")) is not None

    result = store(user_id, full_pull())
    assert result.counts["assignments"].updated == 1  # revived
    db.session.expire_all()
    assert db.session.get(Assignment, quiz.id).deleted_at is None
    assert _count(Assignment) == 2  # the same row, not a second one


def test_incremental_pull_without_markers_deletes_nothing(app):
    user_id = _user()
    store(user_id, full_pull())
    result = store(user_id, [course("C1", term="Fall 2026"), assignment("W1", "C1", "Essay v2")])
    assert result.counts["assignments"].updated == 1
    assert all(c.deleted == 0 for c in result.counts.values())
    assert _count(Assignment, Assignment.deleted_at.is_(None)) == 2
    assert _count(Submission, Submission.deleted_at.is_(None)) == 2


def test_submissions_of_a_stored_assignment_need_no_course_change(app):
    user_id = _user()
    store(user_id, full_pull())
    result = store(user_id, [submission("Cg4IzNew", "W1", "C1", student="222", score=5.0, state="graded")])
    assert result.counts["submissions"].created == 1 and result.skipped == 0
    assert _count(Submission) == 3


def test_changes_of_an_unknown_course_are_skipped_not_failed(app):
    user_id = _user()
    result = store(user_id, [assignment("W9", "NOPE"), submission("S9", "W9", "NOPE")])
    assert result.skipped == 2
    assert _count(Assignment) == 0


def test_course_list_marker_deletes_only_this_sources_courses(app):
    user_id = _user()
    now = datetime.now(timezone.utc)
    canvas_row = course_row({"id": 4711, "name": "Canvas Chemistry"}, user_id=user_id, term_id=None, now=now)
    write_stream(db.session, COURSES, user_id, [canvas_row], now=now, complete=False)
    db.session.commit()
    store(user_id, full_pull("C1") + full_pull("C2")[:-1])
    assert _count(Course, Course.source_system == "classroom", Course.deleted_at.is_(None)) == 2

    result = store(user_id, full_pull("C2"))  # C1 left the course list
    assert result.counts["courses"].deleted == 1
    canvas_course = db.session.scalars(select(Course).where(Course.source_system == "canvas")).one()
    assert (canvas_course.source_id, canvas_course.external_id) == ("4711", None)
    live = set(db.session.scalars(select(Course.name).where(Course.deleted_at.is_(None))))
    assert live == {"Canvas Chemistry", "Biology"}
    assert db.session.scalar(select(Course.deleted_at).where(Course.external_id == "C1")) is not None


def test_same_external_id_in_two_systems_and_two_users_stay_apart(app):
    alice, bob = _user("a@example.edu"), _user("b@example.edu")
    store(alice, full_pull())
    store(bob, full_pull())
    store(alice, [course("C1", "Schoology section", system="schoology"), complete("", ["course"], "schoology")],
          system="schoology")
    assert _count(Course) == 3
    assert _count(Course, Course.user_id == alice, Course.deleted_at.is_(None)) == 2
    assert _count(Term) == 2  # a term per user and source


def test_delete_action_marks_the_row_and_its_submissions(app):
    user_id = _user()
    store(user_id, full_pull())
    gone = Change("classroom", "assignment", "W1", action=Change.DELETE, parent_external_id="C1")
    result = store(user_id, [gone])
    assert result.counts["assignments"].deleted == 1 and result.counts["submissions"].deleted == 1
    assert db.session.scalar(select(Submission.deleted_at).where(Submission.external_id == "Cg4IzAbc")) is not None


def test_a_failing_course_rolls_back_alone(app):
    user_id = _user()

    def pull():
        yield from full_pull("C1")[:-1]  # C1 complete: committed when C2 starts
        yield course("C2", "Chemistry")
        yield assignment("X1", "C2")
        raise TransientError("Google Classroom answered 503 too many times.")

    with pytest.raises(TransientError):
        SourceStore(db.session, user_id, "classroom").store(pull())
    db.session.expire_all()
    assert set(db.session.scalars(select(Course.external_id))) == {"C1"}
    assert _count(Assignment) == 2


def test_a_pull_that_never_ends_is_stopped(app):
    user_id = _user()

    def endless():
        yield course("C1")
        n = 0
        while True:  # bounded by the store's max_changes
            n += 1
            yield assignment(f"W{n}", "C1")

    with pytest.raises(TransientError, match="stopped after 50 changes"):
        SourceStore(db.session, user_id, "classroom", max_changes=50).store(endless())


def test_canvas_is_not_a_source():
    with pytest.raises(ValueError):
        SourceStore(None, 1, "canvas")


def test_objects_a_marker_lists_as_unchanged_are_not_deleted(app):
    user_id = _user()
    store(user_id, full_pull())
    # Schoology's connector leaves out what it knows by hash and names it in the marker.
    result = store(user_id, [Change("classroom", "snapshot_complete", "", data={"entity_types": ["course"],
                                                                               "unchanged": ["course:C1"]}),
                             Change("classroom", "snapshot_complete", "C1", data={
                                 "entity_types": ["assignment", "submission"],
                                 "unchanged": ["assignment:W1", "submission:Cg4IzAbc"]})])
    assert (result.counts["courses"].deleted, result.counts["assignments"].deleted) == (0, 1)
    assert result.counts["submissions"].deleted == 1  # Cg4IzDef: its assignment W2 went
    live = set(db.session.scalars(select(Submission.external_id).where(Submission.deleted_at.is_(None))))
    assert live == {"Cg4IzAbc"}
