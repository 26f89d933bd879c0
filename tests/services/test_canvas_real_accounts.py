"""Real accounts over real HTTP (sandbox Canvas), on every database backend:
courses the user can no longer open, per-course bookmarks, a student's own token."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Assignment, Course, Submission, SyncBookmark, SyncRun, User
from app.services.canvas_bookmarks import KnownCourse, course_label
from tests.helpers import fast_service, make_canvas_user, snapshot


def course_snapshot(user_id: int, canvas_course_id: int) -> dict:
    """One course's synced rows (snapshot() narrowed to the course)."""
    local = db.session.scalar(select(Course.id).where(Course.user_id == user_id,
                                                      Course.canvas_course_id == canvas_course_id))
    assignments = {a for (a,) in db.session.execute(select(Assignment.canvas_assignment_id)
                                                    .where(Assignment.course_id == local))}
    full = snapshot(user_id)
    return {
        "course": [c for c in full["courses"] if c[0] == canvas_course_id],
        "assignments": [a for a in full["assignments"] if a[0] in assignments],
        "submissions": sorted(s for s in db.session.execute(
            select(Submission.canvas_submission_id, Submission.score, Submission.workflow_state,
                   Submission.deleted_at.is_(None)).where(Submission.course_id == local))),
    }


def requests_by_course(sb) -> dict[int, list]:
    out: dict[int, list] = {}
    for entry in sb.request_log:
        parts = entry.path.split("/")
        if len(parts) > 4 and parts[3] == "courses" and parts[4].isdigit():
            out.setdefault(int(parts[4]), []).append(entry)
    return out


def bookmark(user_id: int, canvas_course_id: int) -> SyncBookmark | None:
    db.session.expire_all()
    return db.session.get(SyncBookmark, (user_id, SyncBookmark.COURSE, str(canvas_course_id)))


def test_restricted_and_revoked_courses_are_kept_and_the_run_succeeds(app, cli, make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=5, assignments=6, students=4, unauthorized_status=403)
    d = sb.data
    user = make_canvas_user(sb, email="teacher@example.com")
    assert fast_service(user).sync_all_data().ok
    active = [c for c in sorted(d.enrolled) if d.enrollment_state(c) == "active"]
    concluded = next(c for c in sorted(d.enrolled) if d.enrollment_state(c) == "completed")
    dated, revoked, normal = active[-1], active[1], [active[0], active[2]]
    kept = {cid: course_snapshot(user.id, cid) for cid in (concluded, dated, revoked)}
    names = {cid: d.courses[cid]["name"] for cid in kept}

    sb.restrict_course(concluded, "concluded")
    sb.restrict_course(dated, "date")
    sb.revoke_access(revoked)  # still listed in full; every call inside now answers 403
    sb.rename_course(normal[0], "Still Open 101")
    result = cli.invoke(args=["canvas", "sync", "--email", "teacher@example.com", "--incremental"])
    assert result.exit_code == 0, result.output
    assert "incremental sync succeeded" in result.output
    assert "3 no longer open in Canvas" in result.output
    assert f"{names[revoked]}: no longer open in Canvas (kept as last synced)" in result.output

    run = db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
    assert run.status == SyncRun.SUCCEEDED and run.error is None
    assert {c["course_id"]: c["state"] for c in run.counts["inaccessible_courses"]} == {
        concluded: "restricted", dated: "restricted", revoked: "unauthorized"}
    assert {c["course_id"]: c["course"] for c in run.counts["inaccessible_courses"]} == names
    db.session.expire_all()
    states = dict(db.session.execute(select(Course.canvas_course_id, Course.access_state)).all())
    assert states == {concluded: "restricted", dated: "restricted", revoked: "unauthorized",
                      normal[0]: None, normal[1]: None}
    for cid, before in kept.items():
        assert course_snapshot(user.id, cid) == before, cid  # the last copy, untouched and not deleted
    assert db.session.scalar(select(Course.name).where(Course.canvas_course_id == normal[0])) == "Still Open 101"
    since = db.session.scalar(select(Course.inaccessible_since).where(Course.canvas_course_id == concluded))
    assert since is not None

    # The next run is incremental: two requests per open course, the two course lists, one
    # probe of the course that answers 403, nothing at all for the restricted stubs.
    sb.clear_log()
    again = fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True)
    assert again.ok and again.kind == "incremental", again.error
    per_course = requests_by_course(sb)
    for cid in normal:
        paths = [e.path.rsplit("/", 1)[-1] for e in per_course[cid]]
        assert sorted(paths) == ["assignment_groups", "submissions"], (cid, paths)
        assert all("graded_since=" in e.query for e in per_course[cid] if e.path.endswith("submissions"))
    assert [e.status for e in per_course[revoked]] == [403]
    assert concluded not in per_course and dated not in per_course
    course_lists = [e for e in sb.request_log if e.path == "/api/v1/courses"]
    assert len(course_lists) == 2
    planner_step = [e.path for e in sb.request_log if e.path.startswith("/api/v1/planner/")]
    assert planner_step == ["/api/v1/planner/overrides"]  # the done marks; the zone is known since the first run
    assert len(sb.request_log) == 2 * len(normal) + len(course_lists) + 1 + len(planner_step)
    assert db.session.scalar(select(Course.inaccessible_since).where(Course.canvas_course_id == concluded)) == since

    # Canvas opens a course again: it is fetched in full and the flag goes.
    sb.restore_access(revoked)
    sb.clear_log()
    reopened = fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True)
    assert reopened.ok
    subs = [e for e in requests_by_course(sb)[revoked] if e.path.endswith("submissions")]
    assert subs and not any("graded_since=" in e.query for e in subs)
    db.session.expire_all()
    assert db.session.scalar(select(Course.access_state).where(Course.canvas_course_id == revoked)) is None


def test_a_failing_course_leaves_the_run_partial_and_only_it_is_fetched_fully_next(app, make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=3, assignments=6, students=4)
    user = make_canvas_user(sb)
    first = fast_service(user).sync_all_data()
    assert first.ok
    bad, *good = sorted(sb.data.enrolled)
    bad_name = sb.data.courses[bad]["name"]
    before = bookmark(user.id, bad).value
    assert before == db.session.get(SyncRun, first.run_id).started_at

    sb.set_faults(1.0, seed=1, kinds=["500"], path_prefix=f"/api/v1/courses/{bad}/")
    partial = fast_service(user, max_retries=1).sync_all_data(use_incremental=True)
    assert partial.status == SyncRun.PARTIAL
    assert [e["course_id"] for e in partial.course_errors] == [bad]
    assert partial.error.startswith(f"Some courses could not be synced: {bad_name} (")
    assert "None" not in partial.error
    failed = bookmark(user.id, bad)
    assert failed.value == before and failed.needs_full  # kept, not moved
    partial_started = db.session.get(SyncRun, partial.run_id).started_at
    assert all(bookmark(user.id, cid).value == partial_started and not bookmark(user.id, cid).needs_full
               for cid in good)

    sb.set_faults(0.0)
    sb.clear_log()
    healed = fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True)
    assert healed.ok and healed.kind == "incremental"
    per_course = requests_by_course(sb)
    bad_subs = [e for e in per_course[bad] if e.path.endswith("/students/submissions")]
    assert bad_subs and not any("_since=" in e.query for e in bad_subs)  # the failed course: in full
    for cid in good:  # the others: incremental
        subs = [e for e in per_course[cid] if e.path.endswith("/students/submissions")]
        assert subs and all("graded_since=" in e.query for e in subs)
        assert len(per_course[cid]) == 2
    assert not bookmark(user.id, bad).needs_full


def test_a_course_canvas_gives_no_name_is_named_by_what_we_kept_or_its_id():
    known = {7: KnownCourse(1, "Biology 101", None, None)}
    assert course_label({"id": 7, "access_restricted_by_date": True}, known) == "Biology 101"
    assert course_label({"id": 8, "access_restricted_by_date": True}, known) == "course 8"
    assert course_label({"id": 7, "name": "Bio (renamed)"}, known) == "Bio (renamed)"


def own_expectation(sb) -> dict:
    d, me = sb.data, sb.student_id
    courses = sorted(d.enrolled)
    return {
        "assignments": {a["id"] for c in courses for a in d.course_assignments(c) if a["published"]},
        "submissions": {s["id"]: (s["score"], s["workflow_state"], s["submitted_at"] is not None)
                        for c in courses for s in d.iter_submissions(c, published_only=True) if s["user_id"] == me},
    }


def stored_own(user_id: int) -> dict:
    db.session.expire_all()
    live = Submission.deleted_at.is_(None)
    return {
        "assignments": set(db.session.scalars(select(Assignment.canvas_assignment_id).where(
            Assignment.deleted_at.is_(None)))),
        "submissions": {sid: (score, state, submitted) for sid, score, state, submitted in db.session.execute(
            select(Submission.canvas_submission_id, Submission.score, Submission.workflow_state,
                   Submission.submitted_at.is_not(None)).where(live))},
        "users": set(db.session.scalars(select(Submission.canvas_user_id).where(live))),
    }


@pytest.mark.parametrize("student_all", ["own", "unauthorized"])
def test_a_student_token_syncs_exactly_its_own_data_full_and_incremental(app, make_canvas_sandbox, student_all):
    # "unauthorized": an older Canvas refusing a student's student_ids[]=all (we ask for our own)
    sb = make_canvas_sandbox(courses=3, assignments=8, students=5, student_all=student_all)
    user = make_canvas_user(sb, email="pupil@example.com", token=sb.student_token)
    full = fast_service(user).sync_all_data()
    assert full.ok, full.error
    assert db.session.get(User, user.id).canvas_user_id == sb.student_id
    expected = own_expectation(sb)
    got = stored_own(user.id)
    assert got["users"] == {sb.student_id}
    assert got["assignments"] == expected["assignments"]
    assert got["submissions"] == expected["submissions"]
    scores = dict(db.session.execute(select(Course.canvas_course_id, Course.own_current_score)).all())
    assert all(score is not None for score in scores.values())

    # The student is graded and submits; another student's grade must not appear.
    me, other = sb.student_id, sb.data.students[1]["id"]
    course = sorted(sb.data.enrolled)[0]
    mine = [s for s in sb.data.iter_submissions(course, published_only=True) if s["user_id"] == me]
    todo = next(s for s in mine if s["workflow_state"] == "unsubmitted")
    graded = next(s for s in mine if s["id"] != todo["id"])
    sb.submit(todo["assignment_id"], me)
    sb.grade_submission(graded["assignment_id"], me, 1.5)
    sb.grade_submission(graded["assignment_id"], other, 9.0)
    sb.clear_log()
    incremental = fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True)
    assert incremental.ok and incremental.kind == "incremental", incremental.error
    got = stored_own(user.id)
    assert got["users"] == {me}
    assert got["submissions"] == own_expectation(sb)["submissions"]
    assert got["submissions"][graded["id"]][0] == 1.5 and got["submissions"][todo["id"]][2] is True
    refused = len(sb.data.enrolled) if student_all == "unauthorized" else 0  # the refused "all", then own
    # no needs_grading_count: still 2 requests per course
    planner_step = [e.path for e in sb.request_log if e.path.startswith("/api/v1/planner/")]
    assert planner_step == ["/api/v1/planner/overrides"]  # the done marks, one page
    assert len(sb.request_log) == 2 * len(sb.data.enrolled) + 2 + refused + len(planner_step)
    db.session.expire_all()
    assert db.session.scalar(select(Course.own_current_score).where(Course.canvas_course_id == course)) != \
        scores[course]  # Canvas's own score moved with the new grade
