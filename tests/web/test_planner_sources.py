"""The planner with Canvas, Google Classroom and Schoology side by side: one list by due date, a badge each."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Course
from app.sync.connectors.base import Change
from app.sync.sources.store import SourceStore
from tests.web.conftest import add_assignment, add_course, login, make_user, now

ME = 77


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def pull(user, system, course_id, course_name, assignments, submissions=()):
    """Store a course of another system the way its connector's pull would."""
    changes = [Change(system, "course", course_id, data={"name": course_name, "raw": {"id": course_id}})]
    for aid, name, due_in in assignments:
        changes.append(Change(system, "assignment", aid, parent_external_id=course_id,
                              data={"name": name, "due_at": now() + due_in, "points_possible": 10.0,
                                    "html_url": f"https://{system}.example/{aid}", "published": True,
                                    "raw": {"id": aid}}))
    for sid, aid, state in submissions:
        changes.append(Change(system, "submission", sid, parent_external_id=aid,
                              data={"course_external_id": course_id, "student_external_id": "104738291038475610293",
                                    "score": None, "grade": None, "submitted_at": now() if state == "submitted" else None,
                                    "workflow_state": state, "late": False, "missing": False, "raw": {"id": sid}}))
    SourceStore(db.session, user.id, system).store(changes)


def test_upcoming_mixes_every_source_by_due_date_with_badges(client, app):
    user = make_user("mixed@example.edu", canvas=True, canvas_user_id=ME)
    canvas = add_course(user, "Canvas History")
    add_assignment(canvas, "Canvas essay", due_in=timedelta(days=3))
    db.session.commit()
    pull(user, "classroom", "5001", "Classroom Biology", [("cw1", "Classroom lab", timedelta(days=1))],
         [("Cg4IzKx1", "cw1", "submitted")])
    pull(user, "schoology", "7301", "Schoology Algebra", [("91", "Schoology worksheet", timedelta(days=2)),
                                                          ("92", "Schoology later", timedelta(days=30))])
    login(client, user.email)
    page = text_of(client.get("/"))
    order = [page.index(name) for name in ("Classroom lab", "Schoology worksheet", "Canvas essay")]
    assert order == sorted(order)
    assert "Schoology later" not in page  # beyond the 14 days, whatever the source
    for label in ("Canvas", "Classroom", "Schoology"):
        assert f'class="badge source-{label.lower()}" title="From ' in page
    assert page.count('class="badge source-') == 3
    # The Classroom student id is not the Canvas id: a lone submitter is the user
    lab_row = page[page.index("Classroom lab"):page.index("Schoology worksheet")]
    assert "Submitted" in lab_row
    assert 'href="https://classroom.example/cw1"' in page


def test_courses_page_badges_every_course(client, app):
    user = make_user("courses@example.edu", canvas=True)
    add_course(user, "Canvas Chemistry")
    db.session.commit()
    pull(user, "schoology", "7301", "Schoology Algebra", [])
    login(client, user.email)
    page = text_of(client.get("/courses"))
    assert re.search(r"Canvas Chemistry</a> <span class=\"badge source-canvas\"", page)
    assert re.search(r"Schoology Algebra</a> <span class=\"badge source-schoology\"", page)


def test_another_users_source_courses_stay_hidden(client, app):
    owner = make_user("owner@example.edu")
    pull(owner, "classroom", "5001", "Owner's Classroom course", [("cw1", "Owner's lab", timedelta(days=1))])
    course_id = db.session.scalar(select(Course.id))
    make_user("other@example.edu")
    login(client, "other@example.edu")
    assert "Owner's lab" not in text_of(client.get("/"))
    assert "Owner&#39;s Classroom course" not in text_of(client.get("/courses"))
    assert client.get(f"/courses/{course_id}").status_code == 404


def test_a_classroom_course_page_shows_its_badge_and_own_state(client, app):
    user = make_user("detail@example.edu", canvas=True, canvas_user_id=ME)
    pull(user, "classroom", "5001", "Classroom Biology", [("cw1", "Classroom lab", timedelta(days=-1))],
         [("Cg4IzKx1", "cw1", "unsubmitted")])
    course_id = db.session.scalar(select(Course.id))
    login(client, user.email)
    page = text_of(client.get(f"/courses/{course_id}"))
    assert '<span class="badge source-classroom"' in page
    assert "Overdue" in page  # the user's own (unsubmitted, past due) work, not a class summary


def test_upcoming_mixes_items_pulled_from_the_three_sandboxes_over_http(
        client, app, make_canvas_sandbox, classroom_sandbox, make_schoology_sandbox):
    import html
    from datetime import datetime, timezone

    from tests.web.test_calendar_sources import fill_from_sandboxes

    canvas = make_canvas_sandbox(courses=2, assignments=8, students=3)
    schoology = make_schoology_sandbox(assignments=6)
    start = datetime.now(timezone.utc)
    # The sandbox Classroom's work is dated around 2026-09-01; two pieces due in the coming days.
    cid = next(iter(classroom_sandbox.data.courses))
    for days, title in ((1, "Classroom reading"), (6, "Classroom project")):
        due = (start + timedelta(days=days)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        classroom_sandbox.mutate("add_course_work", course_id=cid, title=title, due=due)
    user, _ = fill_from_sandboxes(canvas, classroom_sandbox, schoology)

    # through the whole last day (the user's zone is the server's UTC here)
    end = datetime.combine((start + timedelta(days=15)).date(), datetime.min.time(), tzinfo=timezone.utc)
    expected = {}  # (system, name) -> due, for everything due from now to the end of the 14th day on
    for c in canvas.data.enrolled:
        for a in canvas.data.course_assignments(c):
            if a["published"] and a["due_at"]:
                expected[("canvas", a["name"])] = datetime.fromisoformat(a["due_at"].replace("Z", "+00:00"))
    for works in classroom_sandbox.data.course_work.values():
        for w in works.values():
            if w["state"] == "PUBLISHED" and "dueDate" in w:
                d, t = w["dueDate"], w.get("dueTime", {})
                expected[("classroom", w["title"])] = datetime(d["year"], d["month"], d["day"], t.get("hours", 0),
                                                               t.get("minutes", 0), t.get("seconds", 0),
                                                               tzinfo=timezone.utc)
    for sid in schoology.data.section_ids():
        for a in schoology.data.section_assignments(sid):
            if int(a["published"]) and schoology.data.due_ts(a) is not None:
                expected[("schoology", a["title"])] = datetime.fromtimestamp(schoology.data.due_ts(a), timezone.utc)
    expected = {key: due for key, due in expected.items() if start <= due < end}
    assert {system for system, _ in expected} == {"canvas", "classroom", "schoology"}, expected

    login(client, user.email, "password-123")
    page = client.get("/").get_data(as_text=True)
    listed = page[page.index('<div id="upcoming">'):]
    rows = [(system, html.unescape(name)) for name, system in re.findall(
        r'<li class="item[^"]*"[^>]*>.*?<a href="[^"]*" rel="noopener noreferrer">([^<]+)</a>.*?'
        r'class="badge source-(\w+)"', listed, flags=re.S)]
    assert sorted(rows) == sorted(expected)  # every item of all three, each with its own badge
    dues = [expected[row] for row in rows]
    assert dues == sorted(dues)  # one list in due-date order, whatever the source


def test_the_id_a_source_named_decides_whose_work_is_the_users(client, app):
    """Schoology's users/me (kept as own_user_id on the connection) picks the user's own submissions:
    a lone submitter who is someone else (a teacher's key) gives the class view, the user's own
    id (a student's key) the user's state."""
    from app.models import UserConnection

    user = make_user("keys@example.edu", canvas=True, canvas_user_id=ME)
    connection = UserConnection(user_id=user.id, system="schoology", base_url="https://api.schoology.com/v1")
    connection.set_credentials({"consumer_key": "k", "consumer_secret": "secret"}, hint_from="consumer_secret")
    connection.state = {"own_user_id": "5100001"}  # a teacher's key
    db.session.add(connection)
    db.session.commit()
    changes = [Change("schoology", "course", "7301", data={"name": "Schoology Algebra", "raw": {}}),
               Change("schoology", "assignment", "91", parent_external_id="7301",
                      data={"name": "Schoology worksheet", "due_at": now() + timedelta(days=2), "published": True,
                            "points_possible": 10.0, "raw": {}}),
               Change("schoology", "submission", "91-6200001", parent_external_id="91",
                      data={"course_external_id": "7301", "student_external_id": "6200001", "score": None,
                            "grade": None, "submitted_at": now(), "workflow_state": "submitted", "late": False,
                            "missing": False, "raw": {}})]
    SourceStore(db.session, user.id, "schoology").store(changes)
    login(client, user.email)

    def state_of_worksheet() -> str:
        page = text_of(client.get("/"))
        row = page[page.index("Schoology worksheet"):].split("</li>")[0]
        return re.search(r'class="state (state-[a-z]+)">([^<]*)<', row).groups()

    assert state_of_worksheet() == ("state-class", "0/1 graded · 1 submitted")  # not the user's work

    connection = db.session.get(UserConnection, connection.id)
    connection.state = {"own_user_id": "6200001"}  # the student's own key
    db.session.commit()
    assert state_of_worksheet() == ("state-submitted", "Submitted")
