import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from app.models import User
from tests.web.conftest import (add_assignment, add_category, add_course, add_submission, add_term, login,
                                make_user, now)

ME = 77  # the user's Canvas id in these tests
HAS_CANVAS_ID = hasattr(User, "canvas_user_id")


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_upcoming_lists_next_14_days_with_course_points_and_state(logged_in, user):
    bio = add_course(user, "Biology 101")
    chem = add_course(user, "Chemistry 201")
    essay = add_assignment(bio, "Essay on cells", due_in=timedelta(days=2), points=25)
    add_submission(essay, ME, submitted_at=now(), workflow_state="submitted")
    quiz = add_assignment(chem, "Quiz 3", due_in=timedelta(days=3), points=10)
    add_submission(quiz, ME, score=8.5, graded_at=now())
    lab = add_assignment(chem, "Lab report", due_in=timedelta(days=5), points=40)
    add_submission(lab, ME, submitted_at=now(), late=True, workflow_state="submitted")
    add_assignment(bio, "Far away", due_in=timedelta(days=20))
    add_assignment(bio, "Deleted one", due_in=timedelta(days=1), deleted_at=now())
    add_assignment(bio, "Unpublished draft", due_in=timedelta(days=1), published=False)
    gone = add_course(user, "Dropped course", deleted_at=now())
    add_assignment(gone, "From a deleted course", due_in=timedelta(days=1))
    db.session.commit()

    page = text_of(logged_in.get("/"))
    assert "Essay on cells" in page and "Biology 101" in page and "25 pts" in page
    assert "Submitted</span>" in page
    assert "Graded 8.5/10" in page
    assert "Submitted late" in page
    for hidden in ("Far away", "Deleted one", "Unpublished draft", "From a deleted course"):
        assert hidden not in page
    # ordered by due date, one heading per day
    assert page.index("Essay on cells") < page.index("Quiz 3") < page.index("Lab report")
    assert page.count('class="card day"') == 3


def test_overdue_and_missing_are_flagged(logged_in, user):
    course = add_course(user, "History")
    late = add_assignment(course, "Unsent homework", due_in=timedelta(days=-2))
    add_submission(late, ME)  # unsubmitted
    missing = add_assignment(course, "Missing quiz", due_in=timedelta(days=-1))
    add_submission(missing, ME, missing=True)
    done = add_assignment(course, "Handed in", due_in=timedelta(days=-1))
    add_submission(done, ME, submitted_at=now(), workflow_state="submitted")
    soon = add_assignment(course, "Reading for tomorrow", due_in=timedelta(days=1))
    add_submission(soon, ME)
    db.session.commit()
    page = text_of(logged_in.get("/"))
    overdue = page[page.index('id="overdue"'):page.index('id="upcoming"')]
    assert "Unsent homework" in overdue and "Overdue" in overdue
    assert "Missing quiz" in overdue and "Missing" in overdue
    assert "Handed in" not in page  # done and past: nothing to plan
    assert "Reading for tomorrow" in page[page.index('id="upcoming"'):]
    assert "To do" in page


def test_teacher_sees_class_progress_not_one_students_state(logged_in, user):
    course = add_course(user, "Teaching: Algebra")
    hw = add_assignment(course, "Homework 1", due_in=timedelta(days=1))
    add_submission(hw, 501, score=9, graded_at=now())
    add_submission(hw, 502, submitted_at=now(), workflow_state="submitted")
    add_submission(hw, 503)
    db.session.commit()
    page = text_of(logged_in.get("/"))
    assert "1/3 graded · 2 submitted" in page
    assert "Graded 9" not in page


def test_courses_grouped_by_term_with_grades_and_method(logged_in, user):
    spring = add_term(user, "Spring 2026")
    weighted = add_course(user, "Weighted Physics", term=spring, weighted=True)
    hw = add_category(weighted, "Homework", 30, 1)
    exams = add_category(weighted, "Exams", 70, 2)
    a1 = add_assignment(weighted, "HW1", category=hw, points=10)
    a2 = add_assignment(weighted, "Midterm", category=exams, points=100)
    a3 = add_assignment(weighted, "Final", category=exams, points=100)  # ungraded: ignored
    add_submission(a1, ME, score=10)
    add_submission(a2, ME, score=60)
    add_submission(a3, ME)
    excused = add_assignment(weighted, "Excused lab", category=hw, points=50)
    add_submission(excused, ME, score=0, excused=True)

    plain = add_course(user, "Points Art", term=spring)
    p1 = add_assignment(plain, "Sketch", points=20)
    p2 = add_assignment(plain, "Painting", points=80)
    add_submission(p1, ME, score=20)
    add_submission(p2, ME, score=40)
    old = add_assignment(plain, "Deleted graded", points=100, deleted_at=now())
    add_submission(old, ME, score=0)

    add_course(user, "Loose course")  # no term, nothing graded
    other = make_user("other@example.edu")
    add_course(other, "Someone else's course")
    db.session.commit()

    page = text_of(logged_in.get("/courses"))
    assert "Spring 2026" in page and "No term" in page
    assert page.index("Spring 2026") < page.index("No term")
    row = lambda name: page[page.index(name):page.index("</tr>", page.index(name))]
    assert "72.0%" in row("Weighted Physics") and "weighted by category" in row("Weighted Physics")  # .3*100+.7*60
    assert "60.0%" in row("Points Art") and "points earned / points possible" in row("Points Art")  # 60/100
    assert "nothing graded yet" in row("Loose course")
    assert "Someone else" not in page


def test_course_page_shows_categories_assignments_and_scores(logged_in, user):
    course = add_course(user, "Weighted Physics", weighted=True)
    hw = add_category(course, "Homework", 40, 1)
    exams = add_category(course, "Exams", 60, 2)
    a1 = add_assignment(course, "HW1", category=hw, points=10, due_in=timedelta(days=-3))
    add_submission(a1, ME, score=5)
    a2 = add_assignment(course, "Midterm", category=exams, points=50, due_in=timedelta(days=3))
    add_submission(a2, ME, score=45)
    add_category(course, "Removed group", 10, 3).deleted_at = now()
    db.session.commit()
    page = text_of(logged_in.get(f"/courses/{course.id}"))
    assert re.search(r'id="course-grade">74\.0%', page)  # .4*50 + .6*90
    assert "Homework" in page and "weight 40%" in page and "· 50.0%" in page
    assert "Exams" in page and "· 90.0%" in page
    assert "Graded 5/10" in page and "Graded 45/50" in page
    assert "Removed group" not in page
    assert page.index("Homework") < page.index("HW1") < page.index("Exams") < page.index("Midterm")


def test_course_page_is_404_for_other_users_and_deleted_courses(logged_in, user):
    other = make_user("other@example.edu")
    theirs = add_course(other, "Private")
    mine_deleted = add_course(user, "Dropped", deleted_at=now())
    db.session.commit()
    assert logged_in.get(f"/courses/{theirs.id}").status_code == 404
    assert logged_in.get(f"/courses/{mine_deleted.id}").status_code == 404
    assert logged_in.get("/courses/999999").status_code == 404


def _count_queries(client, url):
    statements = []
    listener = lambda *a: statements.append(a[2])
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(statements)


def _fill(user, courses):
    for i in range(courses):
        course = add_course(user, f"Course {i:03d}", weighted=bool(i % 2))
        cat = add_category(course, "Work", 100)
        for j in range(3):
            a = add_assignment(course, f"Task {j}", category=cat, due_in=timedelta(days=j + 1))
            add_submission(a, ME, score=j + 5)
    db.session.commit()


@pytest.mark.parametrize("url", ["/", "/courses"])
def test_planner_pages_do_a_fixed_number_of_queries(logged_in, user, url):
    _fill(user, 3)
    few = _count_queries(logged_in, url)
    _fill(user, 40)
    many = _count_queries(logged_in, url)
    assert many == few, f"{url}: {few} queries for 3 courses, {many} for 43 (N+1)"
    assert few <= 10
