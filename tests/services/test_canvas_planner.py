"""The sync's planner step against the sandbox Canvas: done marks from planner/overrides, the profile's zone."""
from __future__ import annotations

import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Assignment, Course, PlannerMark, User
from app.services.canvas_errors import CanvasAPIError
from app.services.canvas_planner import CanvasPlanner
from tests.helpers import fast_service, make_canvas_user

TIMEOUT = 10


def canvas(sb) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.token}"
    return s


def mark_in_canvas(sb, canvas_assignment_id: int, done: bool) -> dict:
    """An override made in Canvas's own planner (not through Canvas Flow)."""
    r = canvas(sb).post(f"{sb.api_url}/planner/overrides", timeout=TIMEOUT, json={
        "plannable_type": "assignment", "plannable_id": canvas_assignment_id, "marked_complete": done})
    assert r.status_code == 201, r.text
    return r.json()


def published_assignments(user, count: int) -> list[Assignment]:
    return db.session.scalars(
        select(Assignment).join(Course, Course.id == Assignment.course_id)
        .where(Course.user_id == user.id, Assignment.published.is_(True), Assignment.deleted_at.is_(None))
        .order_by(Assignment.canvas_assignment_id).limit(count)).all()


def marks(user) -> dict[int, tuple[bool, int | None]]:
    db.session.expire_all()
    return {m.assignment_id: (m.done, m.canvas_override_id) for m in db.session.scalars(
        select(PlannerMark).where(PlannerMark.user_id == user.id))}


def incremental(user):
    result = fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=True)
    assert result.ok and result.kind == "incremental", result.error
    return result


def test_a_no_change_incremental_reads_one_page_of_overrides_and_no_planner_items(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    (a,) = published_assignments(user, 1)
    override = mark_in_canvas(sb, a.canvas_assignment_id, True)
    sb.clear_log()
    result = incremental(user)
    paths = [e.path for e in sb.request_log]
    assert [p for p in paths if "/planner/" in p or p.endswith("/profile")] == ["/api/v1/planner/overrides"]
    courses, course_lists = len(sb.data.enrolled), 2
    assert len(paths) == result.requests <= 2 * courses + course_lists + 1
    assert marks(user) == {a.id: (True, override["id"])}


def test_marks_set_unset_and_deleted_in_canvas_follow_on_incremental_syncs(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    first, second, third = published_assignments(user, 3)
    o1 = mark_in_canvas(sb, first.canvas_assignment_id, True)
    o2 = mark_in_canvas(sb, second.canvas_assignment_id, True)
    mark_in_canvas(sb, third.canvas_assignment_id, False)  # an override that is not a mark: no row
    incremental(user)
    assert marks(user) == {first.id: (True, o1["id"]), second.id: (True, o2["id"])}

    s = canvas(sb)
    assert s.put(f"{sb.api_url}/planner/overrides/{o1['id']}", json={"marked_complete": False},
                 timeout=TIMEOUT).status_code == 200
    assert s.delete(f"{sb.api_url}/planner/overrides/{o2['id']}", timeout=TIMEOUT).status_code == 200
    incremental(user)
    assert marks(user) == {first.id: (False, o1["id"]), second.id: (False, None)}


def test_an_unpublished_assignment_keeps_its_mark_while_canvas_hides_its_override(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    a, b = published_assignments(user, 2)
    oa = mark_in_canvas(sb, a.canvas_assignment_id, True)
    ob = mark_in_canvas(sb, b.canvas_assignment_id, True)
    incremental(user)
    sb.update_assignment(a.canvas_assignment_id, published=False)
    assert canvas(sb).delete(f"{sb.api_url}/planner/overrides/{ob['id']}", timeout=TIMEOUT).status_code == 200
    incremental(user)
    assert db.session.get(Assignment, a.id).published is False
    assert marks(user) == {a.id: (True, oa["id"]), b.id: (False, None)}


class ListedOverrides:
    """A Canvas client whose planner/overrides answers with the given list."""

    def __init__(self, overrides: list[dict]):
        self.overrides = overrides

    def get_planner_overrides(self) -> list[dict]:
        return self.overrides


def test_overrides_of_other_plannable_types_and_unknown_assignments_are_ignored(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    a, b = published_assignments(user, 2)
    listed = [
        {"id": 1, "plannable_type": "quiz", "plannable_id": a.canvas_assignment_id, "marked_complete": True},
        {"id": 2, "plannable_type": "assignment", "plannable_id": 987654321, "marked_complete": True},
        {"id": 3, "plannable_type": "assignment", "plannable_id": b.canvas_assignment_id, "marked_complete": True},
    ]
    planner = CanvasPlanner(db.session, ListedOverrides(listed), db.session.get(User, user.id))
    assert planner.pull(profile=False)["marks"] == 1
    db.session.commit()
    assert marks(user) == {b.id: (True, 3)}


def test_overrides_are_read_through_every_page(app, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    chosen = published_assignments(user, 5)
    ids = {a.id: mark_in_canvas(sb, a.canvas_assignment_id, True)["id"] for a in chosen}
    sb.clear_log()
    result = fast_service(db.session.get(User, user.id), per_page=2).sync_all_data(use_incremental=True)
    assert result.ok
    assert sum(e.path == "/api/v1/planner/overrides" for e in sb.request_log) == 3  # 2 + 2 + 1
    assert marks(user) == {local_id: (True, oid) for local_id, oid in ids.items()}


def test_a_profile_without_a_zone_is_asked_again_on_full_runs_only(app, canvas_sandbox):
    sb = canvas_sandbox
    sb.data.self_user["time_zone"] = None
    user = make_canvas_user(sb)

    def profile_calls() -> int:
        return sum(e.path == "/api/v1/users/self/profile" for e in sb.request_log)

    assert fast_service(user).sync_all_data().ok
    assert profile_calls() == 1 and db.session.get(User, user.id).time_zone is None
    sb.clear_log()
    incremental(user)
    incremental(user)
    assert profile_calls() == 0
    sb.data.self_user["time_zone"] = "Europe/Berlin"
    assert fast_service(db.session.get(User, user.id)).sync_all_data(use_incremental=False).ok
    db.session.expire_all()
    assert profile_calls() == 1 and db.session.get(User, user.id).time_zone == "Europe/Berlin"


class RefusingProfile:
    """A Canvas client whose users/self/profile fails."""

    def get_profile(self):
        raise CanvasAPIError("Canvas had an error.", status=500)

    def get_planner_overrides(self) -> list[dict]:
        return []


def test_a_profile_that_failed_is_asked_again_on_the_next_incremental(app):
    user = User(email="zone@example.edu")
    user.set_password("password-123")
    db.session.add(user)
    db.session.commit()
    planner = CanvasPlanner(db.session, RefusingProfile(), user)
    assert planner.profile_due(full=False)
    planner.pull(profile=True)  # logged and skipped, as the sync's step does
    db.session.commit()
    assert planner.profile_due(full=False)  # it never answered: still asked
