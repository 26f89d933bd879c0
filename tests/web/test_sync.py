import json
import time
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Course, SyncRun
from app.web.sync import routes as sync_routes
from tests.web.conftest import add_run, csrf_token, login, make_user, now

COUNTS = {"terms": {"created": 1, "updated": 0, "unchanged": 0, "deleted": 0},
          "courses": {"created": 3, "updated": 1, "unchanged": 0, "deleted": 0},
          "assignments": {"created": 36, "updated": 0, "unchanged": 2, "deleted": 1}}


@pytest.fixture
def fake_runner(monkeypatch, user):
    """Stands in for app.sync.jobs.canvas_sync: records requests, returns a running run (or the active one)."""
    calls = []

    def start_sync(user_id, *, trigger, incremental):
        calls.append((user_id, trigger, incremental))
        active = db.session.scalar(db.select(SyncRun).where(SyncRun.user_id == user_id,
                                                            SyncRun.status == "running"))
        if active:
            return active, True
        run = add_run(db.session.get(type(user), user_id), status="running", trigger=trigger,
                      kind="incremental" if incremental else "full", progress_total=4)
        return run, False

    monkeypatch.setattr(sync_routes, "start_sync", start_sync)
    return calls


def test_sync_button_starts_a_run_and_redirects_to_its_progress(logged_in, user, fake_runner):
    response = logged_in.post("/sync/", data={"csrf_token": csrf_token(logged_in, "/")})
    assert response.status_code == 303
    run = db.session.scalar(db.select(SyncRun).where(SyncRun.user_id == user.id))
    assert response.headers["Location"] == f"/sync/runs/{run.id}"
    assert fake_runner == [(user.id, "button", True)]
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="sync-progress"' in page and f'data-progress-url="/sync/runs/{run.id}.json"' in page
    assert "sync.js" in page


def test_second_click_joins_the_running_sync(logged_in, user, fake_runner):
    first = logged_in.post("/sync/", data={"csrf_token": csrf_token(logged_in, "/")})
    second = logged_in.post("/sync/", data={"csrf_token": csrf_token(logged_in, "/")}, follow_redirects=True)
    assert second.request.path == first.headers["Location"]
    assert b"A sync was already running" in second.data
    assert db.session.scalar(db.select(db.func.count(SyncRun.id))) == 1


def test_full_resync_is_a_separate_action_and_json_answer(logged_in, user, fake_runner):
    history = logged_in.get("/sync/history").get_data(as_text=True)
    assert 'action="/sync/full"' in history
    response = logged_in.post("/sync/full", data={"csrf_token": csrf_token(logged_in, "/")},
                              headers={"Accept": "application/json"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["joined"] is False and body["progress_url"] == f"/sync/runs/{body['run_id']}.json"
    assert fake_runner == [(user.id, "button", False)]


def test_sync_without_canvas_sends_to_settings(client, app, fake_runner):
    make_user("nocanvas@example.edu")
    login(client, "nocanvas@example.edu")
    response = client.post("/sync/", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302 and response.headers["Location"] == "/settings/"
    assert fake_runner == []


def test_progress_json_reports_course_i_of_n_and_counts(logged_in, user):
    run = add_run(user, status="running", progress_current=2, progress_total=5, current_item="Biology 101",
                  counts_json=json.dumps(COUNTS))
    data = logged_in.get(f"/sync/runs/{run.id}.json").get_json()
    assert data["percent"] == 40 and data["current"] == 2 and data["total"] == 5
    assert data["current_item"] == "Biology 101" and data["finished"] is False
    assert {"key": "courses", "label": "Courses", "created": 3, "updated": 1, "unchanged": 0, "deleted": 0} in data["counts"]
    page = logged_in.get(f"/sync/runs/{run.id}").get_data(as_text=True)
    assert "course 2 of 5" in page and 'value="40"' in page and "Biology 101" in page


def test_throttling_while_running_says_canvas_is_busy(logged_in, user):
    run = add_run(user, status="running", progress_current=1, progress_total=3, throttles=2)
    assert logged_in.get(f"/sync/runs/{run.id}.json").get_json()["notice"] == "Canvas is busy; we will retry."


@pytest.mark.parametrize("kind, error, expected, settings_link", [
    ("invalid_token", "Canvas rejected the access token (expired). Update it in Settings.",
     "Canvas rejected the access token (expired).", True),
    ("unreachable", "Canvas at https://canvas.example.edu could not be reached.", "could not be reached", True),
    ("throttled", "Canvas kept refusing requests.", "Canvas is busy; we will retry.", False),
])
def test_failed_runs_explain_themselves_in_plain_words(logged_in, user, kind, error, expected, settings_link):
    run = add_run(user, status="failed", finished_at=now(), error=error,
                  counts_json=json.dumps({"error_kind": kind}))
    for url in (f"/sync/runs/{run.id}", "/", "/sync/history"):
        page = logged_in.get(url).get_data(as_text=True)
        assert expected in page, url
        assert ('href="/settings/"' in page.split("sync-problem")[-1]) == settings_link or url == "/sync/history"
    assert "Traceback" not in page


def test_partial_failure_lists_the_failed_courses(logged_in, user):
    counts = {**COUNTS, "error_kind": "partial",
              "course_errors": [{"course": "Chemistry 201", "error": "Canvas returned an error (500)."}]}
    run = add_run(user, status="partial", finished_at=now(), counts_json=json.dumps(counts))
    page = logged_in.get(f"/sync/runs/{run.id}").get_data(as_text=True)
    assert "Some courses could not be synced" in page
    assert "<strong>Chemistry 201</strong>: Canvas returned an error (500)." in page
    assert "Done, with problems" in page


def test_courses_no_longer_open_are_named_but_the_run_is_done(logged_in, user):
    counts = {**COUNTS, "inaccessible_courses": [
        {"course_id": 7, "course": "History 101", "state": "restricted"},
        {"course_id": 8, "course": "course 8", "state": "unauthorized"}]}
    run = add_run(user, status="succeeded", finished_at=now(), counts_json=json.dumps(counts))
    page = logged_in.get(f"/sync/runs/{run.id}").get_data(as_text=True)
    assert "Canvas is synced: everything is up to date." in page
    assert "No longer open in Canvas, kept as last synced: History 101, course 8." in page
    assert "sync-problem" not in page


def test_history_shows_status_duration_and_counts(logged_in, user):
    started = now()
    run = add_run(user, status="succeeded", started_at=started, counts_json=json.dumps(COUNTS), requests=17)
    run.finished_at = started + timedelta(seconds=12.5)
    db.session.commit()
    page = logged_in.get("/sync/history").get_data(as_text=True)
    assert "Done" in page and "12.5 s" in page
    assert "Courses: 3 new 1 updated" in page and "Assignments: 36 new 1 deleted" in page


# --- against the real runner and the sandbox Canvas ------------------------------------

def _wait_finished(client, run_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        # The test client shares the test's app context (one session): end its transaction so
        # MariaDB's repeatable-read snapshot does not hide the runner's commits.
        db.session.rollback()
        data = client.get(f"/sync/runs/{run_id}.json").get_json()
        seen.append(data["percent"])
        if data["finished"]:
            return data, seen
        time.sleep(0.05)
    raise AssertionError(f"sync {run_id} did not finish in {timeout} s (progress {seen[-5:]})")


def test_sync_request_returns_while_the_sync_continues(client, app, make_canvas_sandbox):
    sandbox = make_canvas_sandbox(latency_ms=60)
    user = make_user("real@example.edu")
    user.canvas_base_url = sandbox.base_url
    user.canvas_token = sandbox.token
    db.session.commit()
    login(client, user.email)
    token = csrf_token(client, "/")
    # Canvas holds the sync's course list until released: an answer now proves the request did not
    # wait for the sync (a sync run inside the request would only answer once it had finished).
    sandbox.hold("/api/v1/courses")
    try:
        response = client.post("/sync/", data={"csrf_token": token}, headers={"Accept": "application/json"})
        assert response.status_code == 202
        run_id = response.get_json()["run_id"]
        db.session.rollback()
        assert client.get(f"/sync/runs/{run_id}.json").get_json()["finished"] is False  # still going
        # a second click joins the same run
        again = client.post("/sync/", data={"csrf_token": token}, headers={"Accept": "application/json"}).get_json()
        assert again == {**again, "run_id": run_id, "joined": True}
    finally:
        sandbox.release()
    data, seen = _wait_finished(client, run_id)
    assert data["status"] == "succeeded", data
    assert seen[-1] == 100
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Course.id)).where(Course.user_id == user.id)) == 3


def test_a_failed_runs_bar_stops_where_the_run_stopped_and_says_so(logged_in, user):
    run = add_run(user, status="failed", progress_current=2, progress_total=6, finished_at=now(),
                  error="Canvas could not be reached: timed out.")
    data = logged_in.get(f"/sync/runs/{run.id}.json").get_json()
    assert data["failed"] is True and data["percent"] == 33 and data["step"] == "stopped at course 2 of 6"
    page = logged_in.get(f"/sync/runs/{run.id}").get_data(as_text=True)
    assert 'value="33" class="failed"' in page and 'aria-label="Sync failed at"' in page
    assert "stopped at course 2 of 6" in page


def test_the_bar_moves_with_rows_written_inside_the_course_being_written(logged_in, user, app):
    from app.services.live_progress import live_progress_for

    run = add_run(user, status="running", progress_current=1, progress_total=4)
    live = live_progress_for(app)
    live.start_course(run.id, expected_rows=200)
    before = logged_in.get(f"/sync/runs/{run.id}.json").get_json()
    assert before["percent"] == 25 and before["step"] == "course 1 of 4"
    live.rows_written(run.id, 100)
    during = logged_in.get(f"/sync/runs/{run.id}.json").get_json()
    assert during["percent"] == 37 and during["step"] == "course 2 of 4: 100 submissions written"
    live.rows_written(run.id, 500)  # more than last time: never the whole course before its commit
    assert logged_in.get(f"/sync/runs/{run.id}.json").get_json()["percent"] == 48
    live.finish(run.id)
