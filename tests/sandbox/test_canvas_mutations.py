"""Change simulation (in process and over the control endpoint) and determinism."""
from __future__ import annotations

import time

import requests

from sandbox.canvas import CanvasData, clock

from .helpers import TIMEOUT, follow_next, get, session


def active_course(sb):
    return next(c for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "active")


def submissions(sb, cid, **params):
    rows, _ = follow_next(session(sb), f"{sb.api_url}/courses/{cid}/students/submissions",
                          {"student_ids[]": "all", "per_page": 100, **params})
    return rows


def test_rename_course(canvas_sandbox):
    sb = canvas_sandbox
    cid = active_course(sb)
    sb.rename_course(cid, "Underwater Basket Weaving 101")
    assert get(sb, f"/courses/{cid}").json()["name"] == "Underwater Basket Weaving 101"
    assert "updated_at" not in get(sb, f"/courses/{cid}").json()


def test_update_assignment_moves_updated_at(canvas_sandbox):
    sb = canvas_sandbox
    cid = active_course(sb)
    a = sb.data.course_assignments(cid)[0]
    before = get(sb, f"/courses/{cid}/assignments/{a['id']}").json()
    start = clock.iso(time.time())
    sb.update_assignment(a["id"], points_possible=77, name="Changed", due_at="2030-05-01T12:00:00Z")
    after = get(sb, f"/courses/{cid}/assignments/{a['id']}").json()
    assert after["points_possible"] == 77 and after["name"] == "Changed"
    assert after["due_at"] == "2030-05-01T12:00:00Z"
    assert after["updated_at"] >= start > before["updated_at"]
    subs = get(sb, f"/courses/{cid}/assignments/{a['id']}/submissions").json()
    assert all(s["cached_due_date"] == "2030-05-01T12:00:00Z" for s in subs)


def test_add_and_delete_assignment(canvas_sandbox):
    sb = canvas_sandbox
    cid = active_course(sb)
    new = sb.add_assignment(cid, name="Bonus Essay", points_possible=5, due_at="2030-01-01T00:00:00Z")
    listed = get(sb, f"/courses/{cid}/assignments", params={"per_page": 100}).json()
    assert new["id"] in [a["id"] for a in listed]
    got = get(sb, f"/courses/{cid}/assignments/{new['id']}").json()
    assert got["name"] == "Bonus Essay" and got["created_at"] == got["updated_at"]
    rows = [s for s in submissions(sb, cid) if s["assignment_id"] == new["id"]]
    assert len(rows) == len(sb.data.students) and all(s["workflow_state"] == "unsubmitted" for s in rows)
    ids = [s["id"] for s in submissions(sb, cid)]
    assert ids == sorted(ids) and len(ids) == len(set(ids))

    sb.delete_assignment(new["id"])
    assert get(sb, f"/courses/{cid}/assignments/{new['id']}").status_code == 404
    assert new["id"] not in [a["id"] for a in get(sb, f"/courses/{cid}/assignments",
                                                   params={"per_page": 100}).json()]
    assert all(s["assignment_id"] != new["id"] for s in submissions(sb, cid))
    groups = get(sb, f"/courses/{cid}/assignment_groups", params={"include[]": "assignments"}).json()
    assert new["id"] not in [a["id"] for g in groups for a in g["assignments"]]


def test_grade_and_regrade_with_graded_since(canvas_sandbox):
    sb = canvas_sandbox
    cid = active_course(sb)
    a = next(x for x in sb.data.course_assignments(cid) if x["published"])
    student = sb.data.students[2]["id"]
    since = clock.iso(time.time() - 1)
    assert all(s["graded_at"] <= since for s in submissions(sb, cid) if s["graded_at"])
    sb.grade_submission(a["id"], student, 8.5)
    changed = submissions(sb, cid, graded_since=since)
    assert [(s["assignment_id"], s["user_id"]) for s in changed] == [(a["id"], student)]
    s = changed[0]
    assert s["score"] == 8.5 and s["grade"] == "8.5" and s["workflow_state"] == "graded"
    assert s["graded_at"] >= since and "updated_at" not in s
    # Canvas keeps sub-second precision: asking "since the graded_at I just saw" returns it again
    again = submissions(sb, cid, graded_since=s["graded_at"])
    assert [x["id"] for x in again] in ([s["id"]], [])
    sb.grade_submission(a["id"], student, 3)
    assert submissions(sb, cid, graded_since=since)[0]["score"] == 3
    assert get(sb, f"/courses/{cid}/assignments/{a['id']}").json()["updated_at"] == a["updated_at"]


def test_submit_and_excuse(canvas_sandbox):
    sb = canvas_sandbox
    cid = active_course(sb)
    a = next(x for x in sb.data.course_assignments(cid) if x["published"])
    student = sb.data.students[1]["id"]
    since = clock.iso(time.time() - 1)
    before = sb.data.get_submission(a["id"], student)
    sb.submit(a["id"], student)
    got = submissions(sb, cid, submitted_since=since)
    assert [(x["assignment_id"], x["user_id"]) for x in got] == [(a["id"], student)]
    assert got[0]["workflow_state"] == "submitted" and got[0]["attempt"] == (before["attempt"] or 0) + 1
    sb.excuse_submission(a["id"], student)
    ex = sb.data.get_submission(a["id"], student)
    assert ex["excused"] and ex["score"] is None and ex["workflow_state"] == "graded"


def test_unenroll(canvas_sandbox):
    sb = canvas_sandbox
    cid = active_course(sb)
    sb.unenroll(cid)
    assert cid not in [c["id"] for c in get(sb, "/courses").json()]
    assert get(sb, f"/courses/{cid}/assignments").status_code == 401
    sb.enroll(cid)
    assert get(sb, f"/courses/{cid}/assignments").status_code == 200


def test_control_endpoint(canvas_sandbox):
    sb = canvas_sandbox
    ctl = sb.base_url + "/__sandbox__"
    cid = active_course(sb)
    a = sb.data.course_assignments(cid)[0]
    student = sb.data.students[0]["id"]
    ops = [
        {"op": "rename_course", "course_id": cid, "name": "Via HTTP"},
        {"op": "update_assignment", "assignment_id": a["id"], "points_possible": 12},
        {"op": "grade_submission", "assignment_id": a["id"], "user_id": student, "score": 11},
        {"op": "submit", "assignment_id": a["id"], "user_id": student},
        {"op": "add_assignment", "course_id": cid, "name": "HTTP added"},
    ]
    results = []
    for op in ops:
        r = requests.post(ctl + "/mutate", json=op, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        results.append(r.json()["result"])
    assert sb.data.courses[cid]["name"] == "Via HTTP"
    assert sb.data.assignments[a["id"]]["points_possible"] == 12
    added = results[-1]["id"]
    assert requests.post(ctl + "/mutate", json={"op": "delete_assignment", "assignment_id": added},
                         timeout=TIMEOUT).status_code == 200
    assert added not in sb.data.assignments
    assert requests.post(ctl + "/mutate", json={"op": "unenroll", "course_id": cid}, timeout=TIMEOUT).ok
    assert cid not in sb.data.enrolled
    bad = requests.post(ctl + "/mutate", json={"op": "explode"}, timeout=TIMEOUT)
    assert bad.status_code == 400
    assert requests.post(ctl + "/mutate", json={"op": "rename_course", "course_id": 1, "name": "x"},
                         timeout=TIMEOUT).status_code == 400

    sb.clear_log()
    get(sb, "/users/self", params={"access_token": "secret-in-url"})
    log = requests.get(ctl + "/log", timeout=TIMEOUT).json()
    assert log["next"] == 1 and log["entries"][0]["path"] == "/api/v1/users/self"
    assert "secret-in-url" not in log["entries"][0]["query"]
    assert requests.post(ctl + "/log/clear", timeout=TIMEOUT).ok and sb.request_log == []
    assert requests.post(ctl + "/latency", json={"ms": 25}, timeout=TIMEOUT).json() == {"latency_ms": 25}
    t = time.perf_counter()
    get(sb, "/users/self")
    assert time.perf_counter() - t >= 0.025
    assert requests.post(ctl + "/throttle", json={"enabled": False, "status": 429}, timeout=TIMEOUT).json() == {
        "enabled": False, "status": 429}
    summary = requests.get(ctl + "/data", timeout=TIMEOUT).json()
    assert summary["courses"] == 3 and summary["students"] == 8
    assert requests.get(ctl + "/nope", timeout=TIMEOUT).status_code == 404


def test_request_log_fields(canvas_sandbox):
    sb = canvas_sandbox
    sb.clear_log()
    get(sb, "/courses", params={"per_page": 2})
    get(sb, "/courses/424242")
    first, second = sb.request_log
    assert (first.method, first.path, first.query, first.status) == ("GET", "/api/v1/courses", "per_page=2", 200)
    assert second.status == 404 and not first.throttled and first.fault is None
    assert 0 < first.duration < 5 and abs(first.started - time.time()) < 60


def _snapshot(d: CanvasData, order):
    out = {"courses": {k: v for k, v in d.courses.items()}, "assignments": dict(d.assignments),
           "groups": dict(d.groups), "topics": dict(d.topics)}
    out["subs"] = {cid: list(d.iter_submissions(cid)) for cid in order}
    return out


def test_generation_is_deterministic_and_lazy_order_independent():
    anchor = clock.day_floor(time.time())
    a = CanvasData(courses=4, assignments=9, students=6, seed=9, anchor=anchor)
    b = CanvasData(courses=4, assignments=9, students=6, seed=9, anchor=anchor)
    c = CanvasData(courses=4, assignments=9, students=6, seed=10, anchor=anchor)
    ids = list(a.courses)
    # b materializes courses in the opposite order (and after a change elsewhere)
    b.rename_course(ids[0], b.courses[ids[0]]["name"])
    assert _snapshot(a, ids) == _snapshot(b, list(reversed(ids)))
    assert _snapshot(a, ids) != _snapshot(c, ids)
    names = [x["name"] for x in a.courses.values()]
    assert len(set(names)) == len(names) and all(any(ch.isdigit() for ch in n) for n in names)
