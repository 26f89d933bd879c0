"""Source pulls through the queue over real HTTP against the Classroom and Schoology sandboxes, on every backend.

A first (full) and a second (incremental for Classroom, full again for Schoology) pull of
each system must leave exactly the sandbox's data in the Canvas tables.
"""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Assignment, Course, Submission, SyncOperation, User, UserConnection
from app.sync import queue
from app.sync.jobs.source_pull import SOURCE_PULL, request_pull


def _connection(system: str, base_url: str, credentials: dict, hint_from: str) -> int:
    user = User(email=f"{system}-http@example.edu", password_hash="x")
    db.session.add(user)
    db.session.flush()
    connection = UserConnection(user_id=user.id, system=system, base_url=base_url)
    connection.set_credentials(credentials, hint_from=hint_from)
    db.session.add(connection)
    db.session.commit()
    return connection.id


def _pull(connection_id: int) -> SyncOperation:
    op, _ = request_pull(db.session.get(UserConnection, connection_id), notify=False)
    queue.process_available(db.session, worker_id="http-test", kinds=[SOURCE_PULL], max_operations=1)
    db.session.expire_all()
    return db.session.get(SyncOperation, op.id)


def _live(system: str, *columns):
    model = columns[0].class_
    return db.session.execute(select(*columns).where(model.source_system == system,
                                                     model.deleted_at.is_(None))).all()


# --- Google Classroom ------------------------------------------------------------------------

def _classroom_expected(sb) -> dict:
    published = {wid: w for works in sb.data.course_work.values() for wid, w in works.items()
                 if w["state"] == "PUBLISHED"}
    return {
        "courses": {cid: c["name"] for cid, c in sb.data.courses.items()},
        "assignments": {wid: w["title"] for wid, w in published.items()},
        "submissions": {sid: (s["courseWorkId"], s.get("assignedGrade"))
                        for subs in sb.data.submissions.values() for sid, s in subs.items()
                        if s["courseWorkId"] in published},
    }


def _classroom_stored() -> dict:
    return {
        "courses": dict(_live("classroom", Course.external_id, Course.name)),
        "assignments": dict(_live("classroom", Assignment.external_id, Assignment.name)),
        "submissions": {sid: (aid, score) for sid, aid, score in db.session.execute(
            select(Submission.external_id, Assignment.external_id, Submission.score)
            .join(Assignment, Assignment.id == Submission.assignment_id)
            .where(Submission.source_system == "classroom", Submission.deleted_at.is_(None)))},
    }


def test_classroom_first_and_incremental_pull_store_exactly_the_sandbox(app, classroom_sandbox):
    sb = classroom_sandbox
    connection_id = _connection("classroom", sb.base_url, {"access_token": sb.token}, "access_token")

    op = _pull(connection_id)
    assert op.status == SyncOperation.COMPLETED, op.error_message
    assert op.result["kind"] == "full" and op.result["skipped"] == 0
    assert _classroom_stored() == _classroom_expected(sb)
    connection = db.session.get(UserConnection, connection_id)
    assert connection.status == UserConnection.OK and connection.state["course_work"]

    cid, other = list(sb.data.courses)
    old_work = next(iter(sb.data.course_work[cid]))
    old_sub = next(s for s in sb.data.submissions[other].values() if "assignedGrade" not in s)
    sb.mutate("edit_course_work", course_id=cid, course_work_id=old_work, title="Edited")
    sb.mutate("add_course_work", course_id=cid, title="Added", due="2026-12-01T12:00:00Z")
    sb.mutate("grade_submission", course_id=other, submission_id=old_sub["id"], points=4)
    sb.mutate("rename_course", course_id=other, name="Renamed course")

    op = _pull(connection_id)
    assert op.status == SyncOperation.COMPLETED, op.error_message
    assert op.result["kind"] == "incremental" and op.result["skipped"] == 0
    assert op.result["courses"]["updated"] == 1 and op.result["assignments"]["created"] == 1
    assert _classroom_stored() == _classroom_expected(sb)
    assert all(c["deleted"] == 0 for c in (op.result["courses"], op.result["assignments"]))


def test_classroom_rejected_token_fails_in_plain_words(app, classroom_sandbox):
    connection_id = _connection("classroom", classroom_sandbox.base_url, {"access_token": "ya29.not-valid"},
                                "access_token")
    op = _pull(connection_id)
    assert op.status == SyncOperation.FAILED
    connection = db.session.get(UserConnection, connection_id)
    assert connection.status == UserConnection.FAILED
    assert connection.last_error.startswith("Google Classroom rejected the access token")
    assert "ya29.not-valid" not in connection.last_error


# --- Schoology -------------------------------------------------------------------------------

def _schoology_expected(sb) -> dict:
    sections = sb.data.section_ids(include_past=False)
    assignments = {str(a["id"]): a["title"] for sid in sections for a in sb.data.section_assignments(sid)}
    return {
        "courses": set(sections),
        "assignments": assignments,
        "submissions": {f"{aid}-{s['uid']}" for aid in assignments for s in sb.data.students},
    }


def _schoology_stored() -> dict:
    return {
        "courses": {cid for (cid,) in _live("schoology", Course.external_id)},
        "assignments": dict(_live("schoology", Assignment.external_id, Assignment.name)),
        "submissions": {sid for (sid,) in _live("schoology", Submission.external_id)},
    }


def test_schoology_pulls_store_exactly_the_sandbox_and_mark_a_deleted_assignment(app, schoology_sandbox):
    sb = schoology_sandbox
    connection_id = _connection("schoology", sb.api_url,
                                {"consumer_key": sb.consumer_key, "consumer_secret": sb.consumer_secret},
                                "consumer_secret")
    op = _pull(connection_id)
    assert op.status == SyncOperation.COMPLETED, op.error_message
    assert _schoology_stored() == _schoology_expected(sb)
    past = set(sb.data.section_ids(include_past=True)) - set(sb.data.section_ids())
    assert past and not past & _schoology_stored()["courses"]  # past sections left out by default

    sid = sb.data.section_ids()[0]
    victim = str(sb.data.section_assignments(sid)[1]["id"])
    sb.mutate("delete_assignment", assignment_id=victim)
    op = _pull(connection_id)
    assert op.status == SyncOperation.COMPLETED, op.error_message
    assert op.result["assignments"]["deleted"] == 1
    assert op.result["submissions"]["deleted"] == len(sb.data.students)
    assert op.result["assignments"]["created"] == 0 and op.result["assignments"]["updated"] == 0
    assert _schoology_stored() == _schoology_expected(sb)
    deleted = db.session.scalars(select(Assignment).where(Assignment.external_id == victim)).one()
    assert deleted.deleted_at is not None and deleted.source_system == "schoology"


def test_schoology_bad_secret_is_refused_and_reported_in_plain_words(app, schoology_sandbox):
    sb = schoology_sandbox
    connection_id = _connection("schoology", sb.api_url,
                                {"consumer_key": sb.consumer_key, "consumer_secret": "not-the-secret"},
                                "consumer_secret")
    op = _pull(connection_id)
    assert op.status == SyncOperation.FAILED
    connection = db.session.get(UserConnection, connection_id)
    assert connection.status == UserConnection.FAILED
    assert "Schoology" in connection.last_error and "not-the-secret" not in connection.last_error
