"""Linking a course to a Discourse category: an admin, or a teacher/TA of the course as Canvas says."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Course, HubCourseLink
from app.sync.hub import Hub
from app.web.discussions.access import teaches
from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 (fixture)
from tests.helpers import make_canvas_user
from tests.web.conftest import csrf_token, device, login, make_user
from tests.web.hub_env import PASSWORD, hub_env  # noqa: F401 (fixture)


def link(client, course_id: int, category: int):
    base = f"/courses/{course_id}/discussions"
    response = client.post(f"{base}/link", data={"category_id": str(category), "csrf_token": csrf_token(client, base)})
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


def links_of(category: int) -> list[int]:
    db.session.expire_all()
    return db.session.scalars(select(HubCourseLink.course_id).where(HubCourseLink.system == "discourse",
                                                                     HubCourseLink.container_id == str(category))).all()


def own_copy(user, canvas_course_id: int, name: str = "Biology") -> Course:
    course = Course(user_id=user.id, canvas_course_id=canvas_course_id, name=name)
    db.session.add(course)
    db.session.commit()
    return course


def test_a_student_of_the_course_cannot_link_its_category(app, hub_env):
    env = hub_env
    student = make_canvas_user(env.canvas, email="pupil@example.edu", token=env.canvas.student_token)
    course = own_copy(student, env.canvas_course)
    client = device(app)
    login(client, student.email, PASSWORD)
    page = link(client, course.id, 42)
    assert "neither a teacher nor a TA" in page
    assert links_of(42) == []


def test_a_teacher_of_another_course_cannot_link_this_one(app, hub_env):
    env = hub_env
    teacher = make_canvas_user(env.canvas, email="other-teacher@example.edu")
    # A course this Canvas account is not enrolled in (another class): Canvas does not list it for them.
    course = own_copy(teacher, max(env.canvas.data.courses) + 1, "Someone else's class")
    client = device(app)
    login(client, teacher.email, PASSWORD)
    page = link(client, course.id, 43)
    assert "Canvas could not confirm that you teach this course" in page
    assert links_of(43) == []

    # The category another course already holds stays with it, whoever asks.
    Hub.from_app(db.session).link_course(env.course_id, 44)
    mine = own_copy(teacher, env.canvas_course, "Biology (my copy)")
    page = link(client, mine.id, 44)
    assert "already linked to another course" in page
    assert links_of(44) == [env.course_id]


def test_a_teacher_of_the_course_and_an_admin_may_link(app, hub_env):
    env = hub_env
    client = device(app)
    login(client, env.email, PASSWORD)  # the sandbox's own user teaches every course
    assert "Linked to Discourse category 45" in link(client, env.course_id, 45)
    assert links_of(45) == [env.course_id]

    admin = make_user("admin@example.edu", admin=True)
    pupil = make_canvas_user(env.canvas, email="pupil2@example.edu", token=env.canvas.student_token)
    pupils_copy = own_copy(pupil, env.canvas_course + 5000, "Chemistry")
    as_admin = device(app)
    login(as_admin, admin.email)
    page = link(as_admin, pupils_copy.id, 46)
    assert "Linked to Discourse category 46" in page, re.findall(r"class=\"flash[^<]*<", page)
    assert links_of(46) == [pupils_copy.id]


def test_only_active_teacher_or_ta_enrollments_count():
    assert teaches([{"type": "ta", "enrollment_state": "active"}])
    assert teaches([{"type": "designer"}, {"role": "TeacherEnrollment"}])
    assert not teaches([{"type": "student", "enrollment_state": "active"}])
    assert not teaches([{"type": "teacher", "enrollment_state": "completed"}])
    assert not teaches(None) and not teaches(["teacher"])
