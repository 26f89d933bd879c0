"""Helpers for the web tests: users, logged-in clients, CSRF tokens, planner rows."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
from flask import g
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Assignment, Course, GradeCategory, Submission, SyncRun, Term, User

PASSWORD = "correct horse battery"
_ids = count(1000)
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, url: str = "/login") -> str:
    page = client.get(url)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1)


def make_user(email: str = "student@example.edu", *, admin: bool = False, canvas: bool = False,
              token: str = "canvas-token-secret-9f3a", canvas_user_id: int | None = None) -> User:
    user = User(email=email, is_admin=admin)
    user.set_password(PASSWORD)
    if canvas:
        user.canvas_base_url = "https://canvas.example.edu"
        user.canvas_token = token
    if canvas_user_id is not None and hasattr(User, "canvas_user_id"):
        user.canvas_user_id = canvas_user_id
    db.session.add(user)
    db.session.commit()
    return user


def login(client, email: str, password: str = PASSWORD):
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def post(client, url: str, data: dict | None = None, *, token_from: str = "/settings/", **kwargs):
    """POST with a valid CSRF token taken from a page the client can see."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client, token_from)}, **kwargs)


def now() -> datetime:
    return datetime.now(timezone.utc)


def add_course(user: User, name: str = "Biology 101", *, term: Term | None = None, weighted: bool = False,
               **kw) -> Course:
    course = Course(user_id=user.id, canvas_course_id=next(_ids), name=name, term=term,
                    apply_assignment_group_weights=weighted, **kw)
    db.session.add(course)
    db.session.flush()
    return course


def add_term(user: User, name: str = "Spring 2026", **kw) -> Term:
    term = Term(user_id=user.id, canvas_term_id=next(_ids), name=name, **kw)
    db.session.add(term)
    db.session.flush()
    return term


def add_category(course: Course, name: str, weight: float | None = None, position: int = 1) -> GradeCategory:
    cat = GradeCategory(course_id=course.id, canvas_group_id=next(_ids), name=name, weight=weight,
                        position=position)
    db.session.add(cat)
    db.session.flush()
    return cat


def add_assignment(course: Course, name: str, *, due_in: timedelta | None = None, points: float | None = 10,
                   category: GradeCategory | None = None, **kw) -> Assignment:
    a = Assignment(course_id=course.id, canvas_course_id=course.canvas_course_id, canvas_assignment_id=next(_ids),
                   name=name, due_at=(now() + due_in) if due_in is not None else None, points_possible=points,
                   grade_category_id=category.id if category else None,
                   canvas_group_id=category.canvas_group_id if category else None, **kw)
    db.session.add(a)
    db.session.flush()
    return a


def add_submission(a: Assignment, canvas_user_id: int = 77, **kw) -> Submission:
    kw.setdefault("workflow_state", "graded" if kw.get("score") is not None else "unsubmitted")
    s = Submission(course_id=a.course_id, assignment_id=a.id, canvas_submission_id=next(_ids),
                   canvas_assignment_id=a.canvas_assignment_id, canvas_user_id=canvas_user_id, **kw)
    db.session.add(s)
    db.session.flush()
    return s


def add_run(user: User, **kw) -> SyncRun:
    run = SyncRun(user_id=user.id, trigger=kw.pop("trigger", "button"), kind=kw.pop("kind", "incremental"), **kw)
    db.session.add(run)
    db.session.commit()
    return run


@pytest.fixture
def user(app):
    return make_user(canvas=True)


@pytest.fixture
def logged_in(client, user):
    login(client, user.email)
    return client


@pytest.fixture(autouse=True)
def _fresh_rate_limiter(request):
    """The app object is shared by the session: start each test with no failed logins."""
    if "app" in request.fixturenames:
        limiter = request.getfixturevalue("app").extensions.get("login_rate_limiter")
        if limiter:
            limiter.reset()
    yield


class DeviceClient(FlaskClient):
    """A test client that behaves like its own browser next to others.

    The tests' app context outlives each request, and Flask-Login (the user it loaded) and
    Flask-WTF (the CSRF token) keep per-request state on `g`: forget it before each request,
    so both come from this client's own cookies.
    """

    def open(self, *args, **kwargs):
        for name in ("_login_user", "csrf_token"):
            g.pop(name, None)
        return super().open(*args, **kwargs)


def device(app) -> DeviceClient:
    return DeviceClient(app, app.response_class, use_cookies=True)
