"""Done and not done: Canvas's own planner overrides both ways, local marks for the other sources."""
from __future__ import annotations

import re
from datetime import timedelta

import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Assignment, Course, PlannerMark, User
from app.web.calendar.secrets import ensure_feed, secret_of
from tests.helpers import fast_service, make_canvas_user
from tests.web.conftest import add_assignment, add_course, login, post

TIMEOUT = 10


def planner_overrides(sb) -> dict[int, bool]:
    """plannable id -> marked_complete, as Canvas's planner/items reports it over HTTP."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.token}"
    url, params, out = f"{sb.api_url}/planner/items", {"per_page": 100}, {}
    for _ in range(100):  # bounded walk of the bookmark pages
        r = s.get(url, params=params, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        for item in r.json():
            if item["planner_override"]:
                out[item["plannable_id"]] = item["planner_override"]["marked_complete"]
        if 'rel="next"' not in r.headers.get("Link", ""):
            return out
        url, params = re.search(r'<([^>]+)>; rel="next"', r.headers["Link"]).group(1), None
    raise AssertionError("planner/items never ended")


def canvas_assignments(user, count: int) -> list[Assignment]:
    return db.session.scalars(
        select(Assignment).join(Course, Course.id == Assignment.course_id)
        .where(Course.user_id == user.id, Assignment.due_at.is_not(None), Assignment.published.is_(True))
        .order_by(Assignment.due_at.desc()).limit(count)).all()


def test_done_in_canvas_flow_shows_in_canvas_and_done_in_canvas_shows_after_an_incremental_sync(app, client,
                                                                                              canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    first, second = canvas_assignments(user, 2)
    login(client, user.email, "password-123")
    course_page = f"/courses/{first.course_id}"

    response = post(client, f"/assignments/{first.id}/done", {"done": "1", "next": course_page},
                    token_from=course_page)
    assert response.status_code == 302 and response.headers["Location"].endswith(course_page)
    assert planner_overrides(sb) == {first.canvas_assignment_id: True}
    assert db.session.scalar(select(PlannerMark.done).where(PlannerMark.assignment_id == first.id)) is True
    page = client.get(course_page).get_data(as_text=True)
    assert re.search(rf'data-assignment-id="{first.id}".*?✓ Done', page, re.S)

    # Not done again: the same override, updated (PUT), not a second one.
    post(client, f"/assignments/{first.id}/done", {"done": "0", "next": course_page}, token_from=course_page)
    assert planner_overrides(sb) == {first.canvas_assignment_id: False}
    assert len(sb.data.planner_overrides) == 1

    # In Canvas's own planner: the first done again, the second done.
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.token}"
    override_id = next(iter(sb.data.planner_overrides.values()))["id"]
    assert s.put(f"{sb.api_url}/planner/overrides/{override_id}", json={"marked_complete": True},
                 timeout=TIMEOUT).status_code == 200
    assert s.post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT, json={
        "plannable_type": "assignment", "plannable_id": second.canvas_assignment_id,
        "marked_complete": True}).status_code == 201
    result = fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True)
    assert result.ok and result.kind == "incremental"
    db.session.expire_all()
    marks = dict(db.session.execute(select(PlannerMark.assignment_id, PlannerMark.done)).all())
    assert marks == {first.id: True, second.id: True}
    page = client.get(f"/courses/{second.course_id}").get_data(as_text=True)
    assert re.search(rf'data-assignment-id="{second.id}".*?✓ Done', page, re.S)


def test_a_mark_made_in_canvas_before_ours_is_found_and_updated(app, client, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    (a,) = canvas_assignments(user, 1)
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.token}"
    s.post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT, json={
        "plannable_type": "assignment", "plannable_id": a.canvas_assignment_id, "marked_complete": False})
    login(client, user.email, "password-123")
    response = post(client, f"/assignments/{a.id}/done", {"done": "1"}, token_from="/")
    assert response.status_code == 302
    assert planner_overrides(sb) == {a.canvas_assignment_id: True} and len(sb.data.planner_overrides) == 1


def test_classroom_and_schoology_items_are_marked_locally_and_in_the_feed(logged_in, user):
    for system in ("classroom", "schoology"):
        course = add_course(user, f"{system} course", source_system=system)
        a = add_assignment(course, f"{system} reading", due_in=timedelta(days=2))
        db.session.commit()
        response = post(logged_in, f"/assignments/{a.id}/done", {"done": "1"}, token_from="/")
        assert response.status_code == 302
        assert db.session.scalar(select(PlannerMark.done).where(PlannerMark.assignment_id == a.id)) is True
        page = logged_in.get("/").get_data(as_text=True)
        assert re.search(rf'data-assignment-id="{a.id}".*?✓ Done', page, re.S)
    feed = logged_in.get(f"/calendar/{secret_of(ensure_feed(user))}.ics").get_data(as_text=True)
    assert "SUMMARY:✓ classroom reading" in feed and "Your work: Marked done" in feed.replace("\r\n ", "")


def test_marking_someone_elses_assignment_is_404(logged_in, user, app):
    other = User(email="other@example.edu")
    other.set_password("x" * 12)
    db.session.add(other)
    db.session.commit()
    theirs = add_assignment(add_course(other, "Not mine"), "Their work")
    db.session.commit()
    assert post(logged_in, f"/assignments/{theirs.id}/done", {"done": "1"}, token_from="/").status_code == 404
    assert db.session.scalar(select(PlannerMark)) is None
