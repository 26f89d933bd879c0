"""Planner overrides, the profile's time zone and the assignment page, as canvas-lms serves them."""
from __future__ import annotations

import requests

from .helpers import TIMEOUT, follow_next, get, session


def first_assignment(sb) -> dict:
    cid = next(c for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "active")
    return next(a for a in sb.data.course_assignments(cid) if a["published"] and a["due_at"])


def planner_item(sb, aid: int, token: str | None = None) -> dict:
    rows, _ = follow_next(session(sb, token), f"{sb.api_url}/planner/items", {"per_page": 100})
    return next(item for item in rows if item["plannable_id"] == aid)


def test_profile_names_the_users_time_zone(canvas_sandbox):
    profile = get(canvas_sandbox, "/users/self/profile").json()
    assert profile["time_zone"] == "America/Denver"
    assert profile["id"] == canvas_sandbox.data.self_user["id"]
    assert {"primary_email", "login_id", "locale", "calendar"} <= set(profile)


def test_override_create_update_show_and_read_back_in_planner_items(canvas_sandbox):
    sb = canvas_sandbox
    a = first_assignment(sb)
    assert planner_item(sb, a["id"])["planner_override"] is None
    s = session(sb)
    created = s.post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT,
                     json={"plannable_type": "assignment", "plannable_id": a["id"], "marked_complete": True})
    assert created.status_code == 201, created.text
    override = created.json()
    assert override["marked_complete"] is True and override["dismissed"] is False
    assert override["plannable_type"] == "assignment" and override["plannable_id"] == a["id"]
    assert planner_item(sb, a["id"])["planner_override"]["marked_complete"] is True

    again = s.post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT,
                   data={"plannable_type": "assignment", "plannable_id": a["id"], "marked_complete": "true"})
    assert again.status_code == 400 and again.json()["errors"]["plannable_id"][0]["type"] == "taken"

    updated = s.put(f"{sb.api_url}/planner/overrides/{override['id']}", json={"marked_complete": False},
                    timeout=TIMEOUT)
    assert updated.status_code == 200 and updated.json()["marked_complete"] is False
    assert planner_item(sb, a["id"])["planner_override"]["marked_complete"] is False
    shown = s.get(f"{sb.api_url}/planner/overrides/{override['id']}", timeout=TIMEOUT).json()
    assert shown["id"] == override["id"] and shown["marked_complete"] is False
    assert [o["id"] for o in s.get(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT).json()] == [override["id"]]


def test_overrides_belong_to_their_user(canvas_sandbox):
    sb = canvas_sandbox
    a = first_assignment(sb)
    override = session(sb).post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT, json={
        "plannable_type": "assignment", "plannable_id": a["id"], "marked_complete": True}).json()
    student = session(sb, sb.student_token)
    assert student.get(f"{sb.api_url}/planner/overrides/{override['id']}", timeout=TIMEOUT).status_code == 404
    assert student.put(f"{sb.api_url}/planner/overrides/{override['id']}", json={"marked_complete": False},
                       timeout=TIMEOUT).status_code == 404
    assert planner_item(sb, a["id"], sb.student_token)["planner_override"] is None


def test_override_of_an_unknown_plannable_is_404(canvas_sandbox):
    r = session(canvas_sandbox).post(f"{canvas_sandbox.api_url}/planner/overrides", timeout=TIMEOUT, json={
        "plannable_type": "assignment", "plannable_id": 999999, "marked_complete": True})
    assert r.status_code == 404


def test_assignment_html_url_is_a_readable_page(canvas_sandbox):
    sb = canvas_sandbox
    a = first_assignment(sb)
    listed = get(sb, f"/courses/{a['course_id']}/assignments/{a['id']}").json()
    page = requests.get(listed["html_url"], timeout=TIMEOUT)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert f"<h1>{a['name']}</h1>" in page.text and "<p>" in page.text
    assert not page.text.lstrip().startswith("{")
    assert requests.get(f"{sb.base_url}/courses/{a['course_id']}/assignments/1", timeout=TIMEOUT).status_code == 404


def test_override_index_lists_the_callers_active_overrides_in_numbered_pages(canvas_sandbox):
    sb = canvas_sandbox
    cid = next(c for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "active")
    published = [a for a in sb.data.course_assignments(cid) if a["published"]][:5]
    s = session(sb)
    made = [s.post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT, json={
        "plannable_type": "assignment", "plannable_id": a["id"], "marked_complete": True}).json() for a in published]
    session(sb, sb.student_token).post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT, json={
        "plannable_type": "assignment", "plannable_id": published[0]["id"], "marked_complete": True})
    # Canvas lists `active` overrides only: not a deleted one, not one of an unpublished or deleted assignment.
    assert s.delete(f"{sb.api_url}/planner/overrides/{made[0]['id']}", timeout=TIMEOUT).status_code == 200
    sb.update_assignment(published[1]["id"], published=False)
    sb.delete_assignment(published[2]["id"])
    rows, responses = follow_next(s, f"{sb.api_url}/planner/overrides", {"per_page": 1})
    assert [o["id"] for o in rows] == [made[3]["id"], made[4]["id"]]
    assert all(o["workflow_state"] == "active" and o["user_id"] == sb.data.self_user["id"] for o in rows)
    assert len(responses) == 2 and 'rel="last"' in responses[0].headers["Link"] and "page=2" in \
        responses[0].headers["Link"]
    hidden = s.get(f"{sb.api_url}/planner/overrides/{made[1]['id']}", timeout=TIMEOUT).json()
    assert hidden["workflow_state"] == "unpublished"
    sb.update_assignment(published[1]["id"], published=True)
    again, _ = follow_next(s, f"{sb.api_url}/planner/overrides", {"per_page": 100})
    assert [o["id"] for o in again] == [made[1]["id"], made[3]["id"], made[4]["id"]]
