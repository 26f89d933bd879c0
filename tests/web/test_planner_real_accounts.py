"""The planner after real syncs (sandbox Canvas over HTTP): a student's own score, and
courses Canvas no longer lets the user open."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Course, User
from app.web.filters import format_number
from tests.helpers import fast_service
from tests.web.conftest import PASSWORD, login


def text_of(response) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def synced_user(sb, email: str, token: str) -> User:
    user = User(email=email)
    user.set_password(PASSWORD)
    user.canvas_base_url, user.canvas_token = sb.base_url, token
    db.session.add(user)
    db.session.commit()
    assert fast_service(user).sync_all_data().ok
    return user


def row(page: str, name: str) -> str:
    start = page.index(name)
    return page[start:page.index("</tr>", start)]


def test_a_student_sees_their_own_canvas_score_not_a_class_average(client, make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=3, assignments=8, students=5)
    synced_user(sb, "pupil@example.com", sb.student_token)
    login(client, "pupil@example.com")
    page = text_of(client.get("/courses"))
    assert "class average" not in page
    cid = sorted(sb.data.enrolled)[0]
    course = db.session.scalar(select(Course).where(Course.canvas_course_id == cid))
    listed = next(c for c in _student_courses(sb) if c["id"] == cid)
    canvas_score = listed["enrollments"][0]["computed_current_score"]
    assert course.own_current_score == canvas_score
    assert f"{canvas_score:.1f}%" in row(page, course.name)
    assert "your current score in Canvas" in row(page, course.name)

    detail = text_of(client.get(f"/courses/{course.id}"))
    assert f"{canvas_score:.1f}%" in detail and "class average" not in detail
    # each assignment shows the student's own state: a graded one their own score
    mine = [s for s in sb.data.iter_submissions(cid, published_only=True) if s["user_id"] == sb.student_id]
    graded = next(s for s in mine if s["score"] is not None and not s["excused"] and s["workflow_state"] == "graded")
    points = sb.data.assignments[graded["assignment_id"]]["points_possible"]
    assert f"{format_number(graded['score'])}/{format_number(points)}" in detail
    assert "graded ·" not in detail  # no class progress ("3/5 graded · 4 submitted")


def _student_courses(sb) -> list:
    import requests

    r = requests.get(sb.api_url + "/courses", params={"include[]": ["total_scores"]},
                     headers={"Authorization": f"Bearer {sb.student_token}"}, timeout=10)
    return r.json()


def test_a_teacher_still_sees_the_class_average(client, make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=2, assignments=6, students=4)
    synced_user(sb, "teacher@example.com", sb.token)
    login(client, "teacher@example.com")
    page = text_of(client.get("/courses"))
    assert "class average of 4 students" in page
    assert "your current score in Canvas" not in page


def test_a_course_no_longer_open_in_canvas_is_shown_as_such_with_its_last_copy(client, make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=3, assignments=6, students=4, unauthorized_status=403)
    user = synced_user(sb, "teacher@example.com", sb.token)
    closed, still_open = sorted(sb.data.enrolled)[:2]
    sb.revoke_access(closed)
    assert fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True).ok
    login(client, "teacher@example.com")
    page = text_of(client.get("/courses"))
    closed_name, open_name = sb.data.courses[closed]["name"], sb.data.courses[still_open]["name"]
    assert "no longer open in Canvas" in row(page, closed_name)
    assert "no longer open in Canvas" not in row(page, open_name)
    local = db.session.scalar(select(Course).where(Course.canvas_course_id == closed))
    detail = text_of(client.get(f"/courses/{local.id}"))
    assert 'id="course-closed"' in detail and "what you see is the last copy synced" in detail
    assert sb.data.course_assignments(closed)[0]["name"] in detail  # the kept assignments
