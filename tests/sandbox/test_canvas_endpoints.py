"""Endpoints, parameters and JSON shapes."""
from __future__ import annotations

import requests

from sandbox.canvas import clock

from .helpers import ISO_Z, TIMEOUT, follow_next, get, session

SUBMISSION_KEYS = {"id", "assignment_id", "user_id", "score", "grade", "submitted_at", "graded_at",
                   "workflow_state", "late", "missing", "excused", "attempt", "seconds_late"}
ASSIGNMENT_KEYS = {"id", "name", "updated_at", "created_at", "due_at", "points_possible", "submission_types",
                   "html_url", "published", "assignment_group_id", "course_id", "position"}


def active(sb):
    return [c for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "active"]


def past(sb):
    return [c for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "completed"]


def all_submissions(sb, cid, **params):
    rows, _ = follow_next(session(sb), f"{sb.api_url}/courses/{cid}/students/submissions",
                          {"student_ids[]": "all", "per_page": 100, **params})
    return rows


def test_users_self(canvas_sandbox):
    me = get(canvas_sandbox, "/users/self").json()
    assert me["id"] == canvas_sandbox.data.self_user["id"] and isinstance(me["id"], int)
    assert {"name", "sortable_name", "short_name", "created_at", "avatar_url"} <= set(me)
    assert ISO_Z.match(me["created_at"])


def test_courses_terms_and_enrollment_state(canvas_sandbox):
    sb = canvas_sandbox
    assert len(sb.data.terms) == 2
    listed = get(sb, "/courses").json()
    assert [c["id"] for c in listed] == active(sb) and len(active(sb)) == 2
    assert all("term" not in c and "updated_at" not in c for c in listed)
    with_term = get(sb, "/courses", params={"include[]": "term"}).json()
    for c in with_term:
        term = sb.data.terms[c["enrollment_term_id"]]
        assert c["term"]["id"] == term["id"] and set(c["term"]) >= {"id", "name", "start_at", "end_at"}
        assert ISO_Z.match(c["term"]["start_at"]) and ISO_Z.match(c["term"]["end_at"])
        assert c["enrollments"][0]["type"] == "teacher"
    assert [c["id"] for c in get(sb, "/courses", params={"enrollment_state": "active"}).json()] == active(sb)
    completed = get(sb, "/courses", params={"enrollment_state": "completed", "include[]": "term"}).json()
    assert [c["id"] for c in completed] == past(sb) and len(completed) == 1
    assert completed[0]["term"]["id"] != with_term[0]["term"]["id"]
    assert get(sb, "/courses", params={"enrollment_state": "invited_or_pending"}).json() == []
    assert get(sb, "/courses", params={"include[]": "total_scores"}).status_code == 200


def test_course_show(canvas_sandbox):
    sb = canvas_sandbox
    cid = past(sb)[0]  # a concluded course is still readable
    c = get(sb, f"/courses/{cid}", params={"include[]": "term"}).json()
    assert c["id"] == cid and c["name"] == sb.data.courses[cid]["name"] and "term" in c
    assert "updated_at" not in c


def test_assignment_groups(make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=8)
    weighted_seen = set()
    for cid in sb.data.enrolled:
        groups = get(sb, f"/courses/{cid}/assignment_groups", params={"include[]": "assignments"}).json()
        for g in groups:
            assert {"id", "name", "position", "group_weight", "rules"} <= set(g)
            assert all(a["assignment_group_id"] == g["id"] for a in g["assignments"])
        nested = sorted(a["id"] for g in groups for a in g["assignments"])
        assert nested == sorted(a["id"] for a in sb.data.course_assignments(cid))
        weighted = sb.data.courses[cid]["apply_assignment_group_weights"]
        weighted_seen.add(weighted)
        if weighted:
            assert sum(g["group_weight"] for g in groups) == 100
        plain = get(sb, f"/courses/{cid}/assignment_groups").json()
        assert all("assignments" not in g for g in plain)
    assert weighted_seen == {True, False}


def test_assignments_shape_and_variety(make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=4, assignments=40)
    seen_undated = seen_unpublished = False
    for cid in sb.data.enrolled:
        rows, _ = follow_next(session(sb), f"{sb.api_url}/courses/{cid}/assignments", {"per_page": 100})
        for a in rows:
            assert ASSIGNMENT_KEYS <= set(a)
            assert isinstance(a["id"], int) and a["course_id"] == cid
            assert ISO_Z.match(a["updated_at"]) and ISO_Z.match(a["created_at"])
            assert a["due_at"] is None or ISO_Z.match(a["due_at"])
            assert a["html_url"] == f"{sb.base_url}/courses/{cid}/assignments/{a['id']}"
            seen_undated |= a["due_at"] is None
            seen_unpublished |= not a["published"]
            term = sb.data.terms[sb.data.courses[cid]["enrollment_term_id"]]
            if a["due_at"]:
                assert term["_start_ts"] - 3 * 86400 <= clock.parse_iso8601(a["due_at"]) <= term["_end_ts"] + 3 * 86400
    assert seen_undated and seen_unpublished


def test_assignments_order_and_bucket(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    p = {"per_page": 100}
    names = [a["name"] for a in get(sb, f"/courses/{cid}/assignments", params={**p, "order_by": "name"}).json()]
    assert names == sorted(names, key=str.lower)
    by_due = get(sb, f"/courses/{cid}/assignments", params={**p, "order_by": "due_at"}).json()
    dated = [a["due_at"] for a in by_due if a["due_at"]]
    assert dated == sorted(dated)
    now = clock.iso(clock.now())
    past_b = get(sb, f"/courses/{cid}/assignments", params={**p, "bucket": "past"}).json()
    assert past_b and all(a["due_at"] and a["due_at"] < now for a in past_b)
    future = get(sb, f"/courses/{cid}/assignments", params={**p, "bucket": "future"}).json()
    assert all(a["due_at"] is None or a["due_at"] >= now for a in future)
    undated = get(sb, f"/courses/{cid}/assignments", params={**p, "bucket": "undated"}).json()
    assert all(a["due_at"] is None for a in undated)
    assert len(past_b) + len(future) == len(sb.data.course_assignments(cid))
    assert get(sb, f"/courses/{cid}/assignments", params={"bucket": "soon"}).status_code == 400


def test_assignment_show_and_its_submissions(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    a = sb.data.course_assignments(cid)[0]
    got = get(sb, f"/courses/{cid}/assignments/{a['id']}").json()
    assert got["id"] == a["id"] and got["updated_at"] == a["updated_at"] and got["name"] == a["name"]
    subs = get(sb, f"/courses/{cid}/assignments/{a['id']}/submissions", params={"per_page": 100}).json()
    assert [s["user_id"] for s in subs] == [u["id"] for u in sb.data.students]
    assert subs == [sb.data.get_submission(a["id"], u["id"]) for u in sb.data.students]
    one = get(sb, f"/courses/{cid}/assignments/{a['id']}/submissions/{subs[0]['user_id']}").json()
    assert one == subs[0]


def test_submission_shapes_and_variety(make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=3, assignments=30, students=20)
    states, flags = set(), set()
    for cid in sorted(sb.data.enrolled):
        for s in all_submissions(sb, cid):
            assert SUBMISSION_KEYS <= set(s) and "updated_at" not in s
            assert isinstance(s["id"], int) and isinstance(s["user_id"], int)
            for key in ("submitted_at", "graded_at"):
                assert s[key] is None or ISO_Z.match(s[key])
            states.add(s["workflow_state"])
            flags |= {k for k in ("late", "missing", "excused") if s[k]}
            if s["late"]:
                assert s["seconds_late"] > 0 and s["submitted_at"] > s["cached_due_date"]
            if s["excused"]:
                assert s["score"] is None and s["grade"] is None
            if s["workflow_state"] == "graded" and not s["excused"]:
                assert s["score"] is not None and s["graded_at"]
            if s["workflow_state"] == "unsubmitted":
                assert s["submitted_at"] is None
    assert {"unsubmitted", "submitted", "graded"} <= states
    assert flags == {"late", "missing", "excused"}


def test_students_submissions_who(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    path = f"/courses/{cid}/students/submissions"
    # the token's user is a teacher: without student_ids it asks for its own, which Canvas refuses
    r = get(sb, path)
    assert r.status_code == 401 and r.json()["status"] == "unauthorized"
    everyone = all_submissions(sb, cid)
    assert [s["id"] for s in everyone] == [s["id"] for s in sb.data.iter_submissions(cid, published_only=True)]
    assert everyone == list(sb.data.iter_submissions(cid, published_only=True))
    two = [sb.data.students[0]["id"], sb.data.students[3]["id"]]
    some = get(sb, path, params={"student_ids[]": two, "per_page": 100}).json()
    assert {s["user_id"] for s in some} == set(two)
    assert len(some) == len([s for s in everyone if s["user_id"] in two])
    assert get(sb, path, params={"student_ids[]": [two[0], 999999]}).status_code == 401
    r = get(sb, path, params={"student_ids[]": [two[0]] * 101})
    assert r.status_code == 400 and r.json() == {"error": "too many students"}
    assert get(sb, path, params={"student_ids[]": [two[0]] * 100}).status_code == 200


def test_students_submissions_assignment_filter(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    path = f"/courses/{cid}/students/submissions"
    published = [a["id"] for a in sb.data.course_assignments(cid) if a["published"]]
    chosen = published[:2]
    rows = get(sb, path, params={"student_ids[]": "all", "assignment_ids[]": chosen, "per_page": 100}).json()
    assert {s["assignment_id"] for s in rows} == set(chosen) and len(rows) == 2 * len(sb.data.students)
    unpublished = published[-1]
    sb.update_assignment(unpublished, published=False)  # unpublished assignments are out of scope
    r = get(sb, path, params={"student_ids[]": "all", "assignment_ids[]": [published[0], unpublished]})
    assert r.status_code == 403 and r.json() == {"error": "invalid assignment ids requested"}
    assert all(s["assignment_id"] != unpublished for s in all_submissions(sb, cid))


def test_students_submissions_since_filters_are_strict_and_anded(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    everyone = all_submissions(sb, cid)
    graded_times = sorted({s["graded_at"] for s in everyone if s["graded_at"]})
    pivot = graded_times[len(graded_times) // 2]
    got = all_submissions(sb, cid, graded_since=pivot)
    assert got and all(s["graded_at"] and s["graded_at"] > pivot for s in got)
    assert len(got) == len([s for s in everyone if s["graded_at"] and s["graded_at"] > pivot])
    sub_times = sorted({s["submitted_at"] for s in everyone if s["submitted_at"]})
    spivot = sub_times[len(sub_times) // 3]
    got = all_submissions(sb, cid, submitted_since=spivot)
    assert len(got) == len([s for s in everyone if s["submitted_at"] and s["submitted_at"] > spivot])
    both = all_submissions(sb, cid, submitted_since=spivot, graded_since=pivot)
    expected = [s["id"] for s in everyone if s["submitted_at"] and s["submitted_at"] > spivot
                and s["graded_at"] and s["graded_at"] > pivot]
    assert [s["id"] for s in both] == expected
    exact = all_submissions(sb, cid, graded_since=graded_times[-1])
    assert exact == []  # strictly after: the newest grade itself is excluded


def test_students_submissions_malformed_dates(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    path = f"/courses/{cid}/students/submissions"
    for name in ("submitted_since", "graded_since"):
        for bad in ("yesterday", "2024-01-01", "2024-13-01T00:00:00Z", "2024-01-01 10:00:00"):
            r = get(sb, path, params={"student_ids[]": "all", name: bad})
            assert r.status_code == 400, (name, bad)
            assert r.json() == {"errors": {name: f"Invalid datetime for {name}"}}
    ok = get(sb, path, params={"student_ids[]": "all", "graded_since": "2020-01-01T00:00:00+02:00"})
    assert ok.status_code == 200


def test_students_submissions_order_and_include(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    rows = all_submissions(sb, cid, order="graded_at")
    keys = [(s["graded_at"] is None, s["graded_at"] or "") for s in rows]
    assert keys == sorted(keys)
    inc = get(sb, f"/courses/{cid}/students/submissions",
              params={"student_ids[]": "all", "include[]": ["assignment", "user"]}).json()
    for s in inc:
        assert s["assignment"]["id"] == s["assignment_id"] and ASSIGNMENT_KEYS <= set(s["assignment"])
        assert s["user"]["id"] == s["user_id"]
    desc = get(sb, f"/courses/{cid}/students/submissions",
               params={"student_ids[]": "all", "order_direction": "descending", "per_page": 100}).json()
    assert [s["id"] for s in desc] == sorted((s["id"] for s in rows), reverse=True)[:100]


def test_discussions(canvas_sandbox):
    sb = canvas_sandbox
    cid = active(sb)[0]
    base = f"{sb.api_url}/courses/{cid}/discussion_topics"
    s = session(sb)
    topics = s.get(base, timeout=TIMEOUT).json()
    assert {t["id"] for t in topics} == {t["id"] for t in sb.data.course_topics(cid)}
    created = s.post(base, json={"title": "Exam prep", "message": "<p>Questions?</p>"}, timeout=TIMEOUT)
    assert created.status_code == 200
    topic = created.json()
    assert topic["title"] == "Exam prep" and topic["published"] is True and ISO_Z.match(topic["posted_at"])
    form = s.post(base, data={"title": "Form topic", "message": "hi"}, timeout=TIMEOUT).json()
    assert form["title"] == "Form topic"
    upd = s.put(f"{base}/{topic['id']}", json={"title": "Exam prep (updated)"}, timeout=TIMEOUT)
    assert upd.status_code == 200 and upd.json()["title"] == "Exam prep (updated)"
    assert s.get(f"{base}/{topic['id']}", timeout=TIMEOUT).json()["title"] == "Exam prep (updated)"
    entry = s.post(f"{base}/{topic['id']}/entries", json={"message": "First!"}, timeout=TIMEOUT)
    assert entry.status_code == 201
    e = entry.json()
    assert e["message"] == "First!" and e["user_id"] == sb.data.self_user["id"] and ISO_Z.match(e["updated_at"])
    edited = s.put(f"{base}/{topic['id']}/entries/{e['id']}", data={"message": "Edited"}, timeout=TIMEOUT)
    assert edited.status_code == 200 and edited.json()["message"] == "Edited"
    entries = s.get(f"{base}/{topic['id']}/entries", timeout=TIMEOUT).json()
    assert [x["id"] for x in entries] == [e["id"]] and entries[0]["message"] == "Edited"
    after = s.get(f"{base}/{topic['id']}", timeout=TIMEOUT).json()
    assert after["discussion_subentry_count"] == 1 and after["last_reply_at"]
    assert s.put(f"{base}/{topic['id']}/entries/999999", json={"message": "x"}, timeout=TIMEOUT).status_code == 404
    assert s.post(f"{base}/999999/entries", json={"message": "x"}, timeout=TIMEOUT).status_code == 404
    concluded = past(sb)[0]
    r = s.post(f"{sb.api_url}/courses/{concluded}/discussion_topics", json={"title": "x"}, timeout=TIMEOUT)
    assert r.status_code == 401  # concluded courses are read-only


def test_planner_items_etag_and_filters(canvas_sandbox):
    sb = canvas_sandbox
    r = get(sb, "/planner/items", params={"per_page": 100})
    assert r.status_code == 200 and r.headers["ETag"]
    items = r.json()
    assert items and all(i["plannable_type"] == "assignment" and ISO_Z.match(i["plannable_date"]) for i in items)
    again = get(sb, "/planner/items", params={"per_page": 100}, headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    stale = get(sb, "/planner/items", params={"per_page": 100}, headers={"If-None-Match": 'W/"nope"'})
    assert stale.status_code == 200
    cid = active(sb)[0]
    one = get(sb, "/planner/items", params={"per_page": 100, "context_codes[]": f"course_{cid}"}).json()
    assert one and {i["course_id"] for i in one} == {cid}
    dates = sorted(i["plannable_date"] for i in items)
    lo, hi = dates[len(dates) // 4], dates[3 * len(dates) // 4]
    window = get(sb, "/planner/items", params={"per_page": 100, "start_date": lo, "end_date": hi}).json()
    assert window and all(lo <= i["plannable_date"] <= hi for i in window)
    a = next(x for x in sb.data.course_assignments(cid) if x["published"] and x["due_at"])
    sb.update_assignment(a["id"], name="Renamed for the planner")
    changed = get(sb, "/planner/items", params={"per_page": 100}, headers={"If-None-Match": r.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != r.headers["ETag"]
    sb.unenroll(cid)
    assert get(sb, "/planner/items", params={"context_codes[]": f"course_{cid}"}).status_code == 401
    assert get(sb, "/planner/items", params={"start_date": "soon"}).status_code == 400


def test_keep_alive_reuses_one_connection(canvas_sandbox):
    sb = canvas_sandbox
    s = session(sb)
    for _ in range(20):
        assert s.get(sb.api_url + "/users/self", timeout=TIMEOUT).status_code == 200
    assert len(sb._server._connections) == 1
    s.close()


def test_stop_releases_the_port(make_canvas_sandbox):
    sb = make_canvas_sandbox()
    port = sb.port
    s = session(sb)
    assert s.get(sb.api_url + "/users/self", timeout=TIMEOUT).status_code == 200
    sb.stop()
    try:
        requests.get(f"http://127.0.0.1:{port}/api/v1/users/self", timeout=2)
        raise AssertionError("still serving")
    except requests.ConnectionError:
        pass
    again = make_canvas_sandbox(port=port)  # the port is free again
    assert again.port == port and get(again, "/users/self").status_code == 200
