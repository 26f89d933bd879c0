"""The sync engine over real HTTP against the sandbox Canvas, on SQLite and MariaDB."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Assignment, Course, Submission, SyncRun, User
from app.services.canvas_sync_service import create_canvas_sync_service
from tests.helpers import fast_service, make_canvas_user, snapshot


def sandbox_expectation(sb) -> dict:
    d = sb.data
    courses = [d.courses[c] for c in sorted(d.enrolled)]
    return {
        "courses": {c["id"]: c["name"] for c in courses},
        "terms": {d.courses[c]["enrollment_term_id"] for c in d.enrolled},
        "groups": {g["id"]: g["name"] for c in courses for g in d.course_groups(c["id"])},
        "assignments": {a["id"]: (a["name"], a["points_possible"]) for c in courses
                        for a in d.course_assignments(c["id"])},
        "submissions": {s["id"]: (s["user_id"], s["score"], s["workflow_state"]) for c in courses
                        for s in d.iter_submissions(c["id"], published_only=True)},
    }


def live(stmt_model, *columns):
    return db.session.execute(select(*columns).where(stmt_model.deleted_at.is_(None))).all()


def test_full_sync_reproduces_the_sandbox_exactly(app, canvas_sandbox):
    user = make_canvas_user(canvas_sandbox)
    result = fast_service(user).sync_all_data()
    assert result.ok, result.error
    expected = sandbox_expectation(canvas_sandbox)
    from app.models import GradeCategory, Term

    assert {r[0] for r in live(Term, Term.canvas_term_id)} == expected["terms"]
    assert dict(live(Course, Course.canvas_course_id, Course.name)) == expected["courses"]
    assert dict(live(GradeCategory, GradeCategory.canvas_group_id, GradeCategory.name)) == expected["groups"]
    assert {a: (n, p) for a, n, p in live(Assignment, Assignment.canvas_assignment_id, Assignment.name,
                                           Assignment.points_possible)} == expected["assignments"]
    got = {s: (u, sc, w) for s, u, sc, w in live(Submission, Submission.canvas_submission_id,
                                                   Submission.canvas_user_id, Submission.score,
                                                   Submission.workflow_state)}
    assert got == expected["submissions"]
    assert result.counts["submissions"].created == len(expected["submissions"])
    run = db.session.get(SyncRun, result.run_id)
    assert run.status == SyncRun.SUCCEEDED and run.progress_current == run.progress_total == len(expected["courses"])
    assert run.requests == result.requests > 0
    assert db.session.get(User, user.id).last_synced_canvas == run.started_at


def test_second_full_sync_writes_nothing_and_duplicates_nothing(app, canvas_sandbox):
    user = make_canvas_user(canvas_sandbox)
    fast_service(user).sync_all_data()
    before = snapshot(user.id)
    total = db.session.scalar(select(func.count()).select_from(Submission))
    again = fast_service(user).sync_all_data()
    assert again.ok
    for entity, counts in again.counts.items():
        assert (counts.created, counts.updated, counts.deleted) == (0, 0, 0), entity
    assert snapshot(user.id) == before
    assert db.session.scalar(select(func.count()).select_from(Submission)) == total


def test_incremental_reflects_every_kind_of_change(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    full = fast_service(user).sync_all_data()
    course_ids = sorted(sb.data.enrolled)
    kept, dropped = course_ids[0], course_ids[-1]
    assignments = [a for a in sb.data.course_assignments(kept) if a["published"]]
    changed, removed, graded = assignments[0], assignments[1], assignments[2]
    student = sb.data.students[0]["id"]
    regraded = next(s for s in sb.data.iter_submissions(kept, published_only=True) if s["score"] is not None
                    and s["assignment_id"] not in (removed["id"],))
    time.sleep(1.1)  # Canvas times have second precision; the *_since filters are strictly-after
    sb.rename_course(kept, "Renamed Course 101")
    sb.update_assignment(changed["id"], points_possible=77)
    sb.delete_assignment(removed["id"])
    sb.grade_submission(graded["id"], student, 8.5)
    sb.grade_submission(regraded["assignment_id"], regraded["user_id"], 1.25)
    sb.unenroll(dropped)

    result = fast_service(user).sync_all_data(use_incremental=True)
    assert result.ok, result.error
    assert result.kind == "incremental"
    assert result.requests < full.requests

    course = db.session.scalar(select(Course).where(Course.canvas_course_id == kept))
    assert course.name == "Renamed Course 101"
    assert db.session.scalar(select(Course.deleted_at).where(Course.canvas_course_id == dropped)) is not None
    assert db.session.scalar(select(Assignment.points_possible)
                             .where(Assignment.canvas_assignment_id == changed["id"])) == 77
    assert db.session.scalar(select(Assignment.deleted_at)
                             .where(Assignment.canvas_assignment_id == removed["id"])) is not None
    assert db.session.scalar(select(func.count()).select_from(Submission).where(
        Submission.canvas_assignment_id == removed["id"], Submission.deleted_at.is_(None))) == 0
    new_grade = db.session.scalar(select(Submission).where(Submission.canvas_assignment_id == graded["id"],
                                                           Submission.canvas_user_id == student))
    assert new_grade.score == 8.5
    assert db.session.scalar(select(Submission.score).where(
        Submission.canvas_submission_id == regraded["id"])) == 1.25
    assert result.counts["courses"].deleted == 1

    # A reappearing course comes back.
    sb.enroll(dropped)
    back = fast_service(user).sync_all_data(use_incremental=True)
    assert back.ok
    assert db.session.scalar(select(Course.deleted_at).where(Course.canvas_course_id == dropped)) is None


def test_incremental_with_nothing_changed_makes_two_requests_per_course_and_writes_nothing(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    fast_service(user).sync_all_data()
    sb.clear_log()
    result = fast_service(user).sync_all_data(use_incremental=True)
    assert result.ok
    courses = len(sb.data.enrolled)
    course_list_requests = 2  # current and concluded enrollments
    paths = [entry.path for entry in sb.request_log]
    planner_step = [p for p in paths if p.startswith("/api/v1/planner/")]
    assert planner_step == ["/api/v1/planner/overrides"]  # done marks, one page; no planner/items walk
    assert not any(p.endswith("/profile") for p in paths)  # zone known since the full run
    assert len(sb.request_log) == result.requests <= 2 * courses + course_list_requests + len(planner_step)
    assert sum("/assignment_groups" in p for p in paths) == courses
    assert sum("/students/submissions" in p for p in paths) <= courses
    for entity, counts in result.counts.items():
        assert counts.created == counts.updated == counts.deleted == 0, entity


def test_new_submission_is_picked_up_incrementally(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    fast_service(user).sync_all_data()
    course = sorted(sb.data.enrolled)[0]
    target = next(s for s in sb.data.iter_submissions(course, published_only=True)
                  if s["workflow_state"] == "unsubmitted")
    time.sleep(1.1)
    sb.submit(target["assignment_id"], target["user_id"])
    result = fast_service(user).sync_all_data(use_incremental=True)
    assert result.ok
    row = db.session.scalar(select(Submission).where(Submission.canvas_submission_id == target["id"]))
    assert row.submitted_at is not None and row.workflow_state == "submitted"


@pytest.mark.parametrize("kind", ["expired", "invalid"])
def test_bad_token_fails_fast_in_plain_words_and_keeps_rows(app, canvas_sandbox, kind):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    fast_service(user).sync_all_data()
    before = snapshot(user.id)
    user.canvas_token = sb.expired_token if kind == "expired" else "not-a-token"
    db.session.commit()
    started = time.monotonic()
    result = fast_service(user).sync_all_data(use_incremental=True)
    assert time.monotonic() - started < 2
    assert result.status == SyncRun.FAILED
    assert result.error.startswith(f"Canvas rejected the access token ({kind}).")
    assert "Update it in Settings." in result.error
    assert sb.token not in result.error and "not-a-token" not in result.error
    assert snapshot(user.id) == before
    run = db.session.get(SyncRun, result.run_id)
    assert run.status == SyncRun.FAILED and run.error == result.error


def test_faults_and_throttling_converge_to_the_clean_result(app, make_canvas_sandbox):
    clean_sb = make_canvas_sandbox(seed=3)
    clean_user = make_canvas_user(clean_sb, email="clean@example.com")
    assert fast_service(clean_user, per_page=10).sync_all_data().ok

    faulty = make_canvas_sandbox(seed=3, faults=0.10, fault_seed=11, fault_slow_s=3, latency_ms=5)
    user = make_canvas_user(faulty, email="faulty@example.com")
    # per_page=10: many pages, so many chances for a fault
    result = fast_service(user, timeout=1.0, per_page=10).sync_all_data()
    if not result.ok:  # a course that exhausted its retries is retried by the next run
        result = fast_service(user, timeout=1.0, per_page=10).sync_all_data()
    assert result.ok, result.error
    assert any(entry.fault for entry in faulty.request_log), "the sandbox injected no faults"
    assert result.retries > 0
    assert snapshot(user.id) == snapshot(clean_user.id)


def test_malformed_page_rolls_back_only_its_course(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    before = snapshot(user.id)
    first = sorted(sb.data.enrolled)[0]
    time.sleep(1.1)
    sb.rename_course(first, "Should Not Land")
    for course in set(sb.data.enrolled) - {first}:
        sb.rename_course(course, f"Renamed {course}")
    # Every submissions page of one course comes back as broken JSON.
    sb.set_faults(1.0, seed=1, kinds=["malformed"], path_prefix=f"/api/v1/courses/{first}/students/submissions")
    partial = fast_service(user, max_retries=1).sync_all_data()
    assert any(entry.fault == "malformed" for entry in sb.request_log)
    assert partial.status == SyncRun.PARTIAL
    assert [e["course_id"] for e in partial.course_errors] == [first]
    assert "unreadable" in partial.course_errors[0]["error"]
    names = dict(db.session.execute(select(Course.canvas_course_id, Course.name)).all())
    assert names[first] == dict((c, n) for c, n, *_ in before["courses"])[first]  # last good copy kept
    assert all(name == f"Renamed {cid}" for cid, name in names.items() if cid != first)  # the others landed
    assert snapshot(user.id)["submissions"] == before["submissions"]
    run = db.session.get(SyncRun, partial.run_id)
    assert db.session.get(User, user.id).last_synced_canvas < run.started_at  # bookmark not moved

    sb.set_faults(0.0)
    healed = fast_service(user).sync_all_data(use_incremental=True)
    assert healed.ok
    assert db.session.scalar(select(Course.name).where(Course.canvas_course_id == first)) == "Should Not Land"


def test_two_syncs_started_together_make_one_run(app, make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=30)
    user_id = make_canvas_user(sb).id
    db.session.rollback()
    results, barrier = [], threading.Barrier(2, timeout=30)

    def go():
        with app.app_context():
            try:
                u = db.session.get(User, user_id)
                barrier.wait()
                results.append(fast_service(u).sync_all_data())
            finally:
                db.session.remove()

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2
    assert sorted(r.joined for r in results) == [False, True]
    assert len({r.run_id for r in results}) == 1
    db.session.rollback()  # end this session's snapshot (MariaDB's REPEATABLE READ)
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 1


def _count_commits_and_flushes(fn) -> dict:
    counts = {"commit": 0, "flush": 0}

    def on_commit(session):
        counts["commit"] += 1

    def on_flush(session, ctx):
        counts["flush"] += 1

    event.listen(db.session, "after_commit", on_commit)
    event.listen(db.session, "after_flush", on_flush)
    try:
        fn()
    finally:
        event.remove(db.session, "after_commit", on_commit)
        event.remove(db.session, "after_flush", on_flush)
    return counts


def test_commits_and_flushes_do_not_grow_with_rows(app, make_canvas_sandbox):
    small = make_canvas_sandbox(courses=3, assignments=4, students=3, seed=5)
    large = make_canvas_sandbox(courses=3, assignments=30, students=25, seed=5)
    small_user = make_canvas_user(small, email="small@example.com")
    large_user = make_canvas_user(large, email="large@example.com")
    small_counts = _count_commits_and_flushes(lambda: fast_service(small_user).sync_all_data())
    large_counts = _count_commits_and_flushes(lambda: fast_service(large_user).sync_all_data())
    rows = db.session.scalar(select(func.count()).select_from(Submission))
    assert rows > 1000
    assert large_counts == small_counts
    assert large_counts["commit"] <= 3 * len(large.data.enrolled) + 5


def test_single_course_sync(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    course = sorted(sb.data.enrolled)[1]
    result = fast_service(user).sync_course_data(course)
    assert result.ok
    assert db.session.scalars(select(Course.canvas_course_id)).all() == [course]
    assert db.session.get(User, user.id).last_synced_canvas is None  # a one-course run is not a full pass


def test_create_canvas_sync_service_uses_the_users_connection(app, canvas_sandbox):
    user = make_canvas_user(canvas_sandbox)
    service = create_canvas_sync_service(user)
    assert service.api.base_url == canvas_sandbox.base_url
    assert service.sync_all_data(use_incremental=True).ok  # no earlier sync: runs a full one


def test_raw_json_is_stored_compressed_without_fields_canvas_recomputes(app, canvas_sandbox):
    import json

    user = make_canvas_user(canvas_sandbox)
    assert fast_service(user).sync_all_data().ok
    submission = db.session.scalars(select(Submission).order_by(Submission.id)).first()
    raw = json.loads(submission.raw_json)
    assert raw["id"] == submission.canvas_submission_id and raw["user_id"] == submission.canvas_user_id
    assert "preview_url" not in raw and "seconds_late" not in raw
    assert len(submission.raw_deflate) * 4 < len(submission.raw_json)


def test_a_run_past_its_time_limit_fails_in_plain_words_and_the_next_starts(app, make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=150)
    user = make_canvas_user(sb)
    started = time.monotonic()
    service = fast_service(user)
    service.max_run_s = 0.5
    result = service.sync_all_data()
    assert result.status == SyncRun.FAILED and result.error_kind == "run_time", result.error
    assert result.error == ("The sync ran longer than its limit (0.5 s) and was stopped; "
                            "the next run starts normally.")
    assert time.monotonic() - started < 30  # stopped, not run to the end
    run = db.session.get(SyncRun, result.run_id)
    assert run.status == SyncRun.FAILED and run.finished_at is not None  # the user's lock is released
    assert fast_service(user).sync_all_data().ok  # the next run starts and finishes normally


def test_a_teachers_incremental_run_counts_the_submissions_it_did_not_refetch_as_unchanged(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    full = fast_service(user).sync_all_data()
    total = full.counts["submissions"].created
    assert total > 0
    a = next(a for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "active"
             for a in sb.data.course_assignments(c) if a["published"])
    student = sb.data.students[0]["id"]
    sb.grade_submission(a["id"], student, 3.0)
    result = fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True)
    assert result.ok and result.kind == "incremental"
    subs = result.counts["submissions"]
    live = db.session.scalar(select(func.count()).select_from(Submission).where(Submission.deleted_at.is_(None)))
    assert subs.updated >= 1 and subs.created == 0
    assert subs.created + subs.updated + subs.unchanged == live  # not "0 unchanged" of thousands


def test_the_live_counts_are_there_before_the_first_course_is_written(app, canvas_sandbox):
    from app.services.canvas_api_service import CanvasAPIService
    from app.services.canvas_sync_service import CanvasSyncService

    user = make_canvas_user(canvas_sandbox)
    seen = []

    def progress(run):
        seen.append((run.progress_current, run.progress_total, run.counts))

    api = CanvasAPIService(user.canvas_base_url, user.canvas_token, timeout=2.0, backoff_factor=0.02)
    assert CanvasSyncService(db.session, api, user, on_progress=progress).sync_all_data().ok
    current, total, counts = next(entry for entry in seen if entry[1])
    assert current in (0, None) and total == len(canvas_sandbox.data.enrolled) - len(canvas_sandbox.data.restricted)
    assert counts["terms"]["created"] >= 1 and counts["submissions"] == {
        "created": 0, "updated": 0, "unchanged": 0, "deleted": 0}


def test_the_live_progress_moves_inside_a_course_as_its_pages_are_written(app, make_canvas_sandbox):
    """Each submissions page is counted while the course's transaction is still open; the share of
    the course is measured against the rows it held after the last sync."""
    from app.services.canvas_api_service import CanvasAPIService
    from app.services.canvas_sync_service import CanvasSyncService
    from app.services.live_progress import LiveProgress

    sb = make_canvas_sandbox(courses=1, assignments=10, students=30)
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    live = LiveProgress("memory://")
    readings = []
    real = live.rows_written

    def counting(run_id, rows):
        real(run_id, rows)
        readings.append(live.read(run_id))

    live.rows_written = counting
    api = CanvasAPIService(user.canvas_base_url, user.canvas_token, timeout=2.0, per_page=20)
    result = CanvasSyncService(db.session, api, db.session.get(User, user.id), live_progress=live).sync_all_data()
    assert result.ok
    total = db.session.scalar(select(func.count()).select_from(Submission).where(Submission.deleted_at.is_(None)))
    assert len(readings) >= 5  # one per page of 20
    written = [r.written for r in readings]
    assert written == sorted(written) and written[-1] == total and all(r.expected == total for r in readings)
    fractions = [r.fraction for r in readings]
    assert 0 < fractions[0] < fractions[len(fractions) // 2] < 0.96
    assert live.read(result.run_id).written == 0  # cleared when the run ended


def test_a_course_on_sqlite_is_written_once_its_pages_are_in(app, backend, make_canvas_sandbox, monkeypatch):
    """SQLite admits one writer: a course's write transaction is not open while its pages arrive
    (a second worker's sync and the web app's writes would wait for it)."""
    from app.services.page_stream import PageStream

    sandbox = make_canvas_sandbox(courses=2, assignments=12, students=30)
    user = make_canvas_user(sandbox)
    writing_while_pages_came = []
    iterate = PageStream.__iter__

    def watched(stream):
        for page in iterate(stream):
            raw = db.session.connection().connection.driver_connection
            writing_while_pages_came.append(getattr(raw, "in_transaction", None))
            yield page

    monkeypatch.setattr(PageStream, "__iter__", watched)
    result = fast_service(user).sync_all_data()
    assert result.ok, result.error
    assert result.counts["submissions"].created == sum(
        1 for c in sandbox.data.enrolled for _ in sandbox.data.iter_submissions(c, published_only=True))
    assert writing_while_pages_came  # the course's pages came through the stream
    if backend == "sqlite":
        assert not any(writing_while_pages_came)
