"""Helpers shared by test modules (fixtures live in conftest.py)."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from sqlalchemy import inspect, select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Assignment, Course, GradeCategory, Submission, Term, User
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_sync_service import CanvasSyncService


def make_canvas_user(sandbox, email: str = "student@example.com", token: str | None = None) -> User:
    user = User(email=email)
    user.set_password("password-123")
    user.canvas_base_url = sandbox.base_url
    user.canvas_token = token or sandbox.token
    db.session.add(user)
    db.session.commit()
    return user


def fast_service(user: User, **api_kwargs) -> CanvasSyncService:
    """A sync service whose client retries quickly (tests inject faults, not waits)."""
    api_kwargs = {"timeout": 2.0, "backoff_factor": 0.02, "max_retries": 6, "max_throttle_waits": 30, **api_kwargs}
    api = CanvasAPIService(user.canvas_base_url, user.canvas_token, **api_kwargs)
    return CanvasSyncService(db.session, api, user)


def snapshot(user_id: int) -> dict:
    """The user's synced data as comparable tuples (no bookkeeping timestamps)."""
    def rows(stmt):
        return sorted(tuple(r) for r in db.session.execute(stmt))

    course_ids = select(Course.id).where(Course.user_id == user_id)
    return {
        "terms": rows(select(Term.canvas_term_id, Term.name, Term.deleted_at.is_(None))
                      .where(Term.user_id == user_id)),
        "courses": rows(select(Course.canvas_course_id, Course.name, Course.course_code, Course.deleted_at.is_(None))
                        .where(Course.user_id == user_id)),
        "grade_categories": rows(select(GradeCategory.canvas_group_id, GradeCategory.name, GradeCategory.weight,
                                        GradeCategory.position, GradeCategory.deleted_at.is_(None))
                                 .where(GradeCategory.course_id.in_(course_ids))),
        "assignments": rows(select(Assignment.canvas_assignment_id, Assignment.name, Assignment.points_possible,
                                   Assignment.due_at, Assignment.published, Assignment.canvas_updated_at,
                                   Assignment.deleted_at.is_(None))
                            .where(Assignment.course_id.in_(course_ids))),
        "submissions": rows(select(Submission.canvas_submission_id, Submission.canvas_user_id, Submission.score,
                                   Submission.grade, Submission.workflow_state, Submission.submitted_at,
                                   Submission.graded_at, Submission.late, Submission.missing, Submission.excused,
                                   Submission.deleted_at.is_(None))
                            .where(Submission.course_id.in_(course_ids))),
    }


def index_names(engine) -> set[str]:
    """Every index name in the live schema."""
    inspector = inspect(engine)
    return {ix["name"] for table in inspector.get_table_names() for ix in inspector.get_indexes(table)}


def stop_process(proc, timeout: float = 20) -> None:
    """SIGTERM a server or worker the test started, SIGKILL it if it does not go in time."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def serving(app, name: str = "app-test-server"):
    """The app on a threaded werkzeug server on 127.0.0.1 (a free port) in a daemon thread; yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


class SteppingClock:
    """A sandbox's OAuth clock: each look at it moves time on, so tokens expire by requests
    made, not by waiting."""

    def __init__(self, step: float):
        self.now, self.step = 1_000_000.0, step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now
