"""The sandbox Google Classroom answers like Google: auth, paging, ordering, filters, quota, usage."""
from __future__ import annotations

import time
from datetime import date, timedelta

import requests


TIMEOUT = 10


def get(sb, path, params=None, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token or sb.token}"}
    return requests.get(sb.base_url + path, params=params, headers=headers, timeout=TIMEOUT, **kwargs)


def control(sb, op, payload):
    r = requests.post(f"{sb.base_url}/__sandbox__/{op}", json=payload, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def walk(sb, path, key, params=None, max_pages=100):
    items, pages, params = [], [], dict(params or {})
    for _ in range(max_pages):
        r = get(sb, path, params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        items.extend(body.get(key, []))
        if "nextPageToken" not in body:
            return items, pages
        assert body["nextPageToken"], "an empty token must be left out instead"
        params["pageToken"] = body["nextPageToken"]
    raise AssertionError("paging did not end")


def test_bad_and_missing_token_get_googles_401(classroom_sandbox):
    r = get(classroom_sandbox, "/v1/courses", token="not-the-token")
    assert r.status_code == 401
    assert r.json() == {"error": {"code": 401, "message": r.json()["error"]["message"], "status": "UNAUTHENTICATED"}}
    assert r.json()["error"]["message"].startswith("Request had invalid authentication credentials.")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    missing = requests.get(classroom_sandbox.base_url + "/v1/courses", timeout=TIMEOUT)
    assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"
    usage = get(classroom_sandbox, "/admin/reports/v1/usage/users/all/dates/2026-01-05", token="nope")
    assert usage.status_code == 401


def test_courses_page_with_tokens_bound_to_the_request(make_classroom_sandbox):
    sb = make_classroom_sandbox(courses=5)
    items, pages = walk(sb, "/v1/courses", "courses", {"pageSize": 2})
    assert [c["id"] for c in items] == list(sb.data.courses)
    assert len(pages) == 3 and "nextPageToken" not in pages[-1]
    first = get(sb, "/v1/courses", {"pageSize": 2}).json()
    changed = get(sb, "/v1/courses", {"pageSize": 2, "courseStates": "ACTIVE", "pageToken": first["nextPageToken"]})
    assert changed.status_code == 400 and changed.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert get(sb, "/v1/courses", {"pageToken": "garbage"}).status_code == 400


def test_course_states_filter(make_classroom_sandbox):
    sb = make_classroom_sandbox(courses=3)  # the third course is archived
    active, _ = walk(sb, "/v1/courses", "courses", {"courseStates": "ACTIVE"})
    both, _ = walk(sb, "/v1/courses", "courses", {"courseStates": ["ACTIVE", "ARCHIVED"]})
    assert len(active) == 2 and {c["courseState"] for c in active} == {"ACTIVE"}
    assert len(both) == 3


def test_course_work_order_states_and_due_shapes(classroom_sandbox):
    sb = classroom_sandbox
    cid = next(iter(sb.data.courses))
    path = f"/v1/courses/{cid}/courseWork"
    newest_first, _ = walk(sb, path, "courseWork", {"pageSize": 4})  # the default order is updateTime desc
    times = [w["updateTime"] for w in newest_first]
    assert times == sorted(times, reverse=True) and len(times) == 6
    by_due, _ = walk(sb, path, "courseWork", {"orderBy": "dueDate", "pageSize": 4})
    dues = [(w["dueDate"]["year"], w["dueDate"]["month"], w["dueDate"]["day"], w["dueTime"].get("hours", 0))
            for w in by_due if "dueDate" in w]
    assert dues == sorted(dues) and "dueDate" not in by_due[-1]  # work without a due date comes last
    with_due = next(w for w in by_due if "dueDate" in w)
    assert set(with_due["dueDate"]) == {"year", "month", "day"}
    assert set(with_due["dueTime"]) <= {"hours", "minutes", "seconds", "nanos"}
    assert get(sb, path, {"orderBy": "title"}).status_code == 400

    wid = newest_first[-1]["id"]
    control(sb, "mutate", {"op": "edit_course_work", "course_id": cid, "course_work_id": wid, "state": "DRAFT"})
    published, _ = walk(sb, path, "courseWork")
    drafts, _ = walk(sb, path, "courseWork", {"courseWorkStates": "DRAFT"})
    assert wid not in {w["id"] for w in published} and [w["id"] for w in drafts] == [wid]


def test_submissions_for_every_course_work_with_states_and_late(classroom_sandbox):
    sb = classroom_sandbox
    cid = next(iter(sb.data.courses))
    path = f"/v1/courses/{cid}/courseWork/-/studentSubmissions"
    subs, pages = walk(sb, path, "studentSubmissions", {"pageSize": 7})
    assert len(subs) == 6 * 5 and len(pages) == 5
    assert all(isinstance(s["id"], str) and not s["id"].isdigit() for s in subs)
    returned, _ = walk(sb, path, "studentSubmissions", {"states": "RETURNED"})
    assert returned and all(s["state"] == "RETURNED" and "assignedGrade" in s for s in returned)
    late, _ = walk(sb, path, "studentSubmissions", {"late": "LATE_ONLY"})
    assert late and all(s.get("late") is True for s in late) and len(late) < len(subs)
    one = subs[0]["courseWorkId"]
    only, _ = walk(sb, f"/v1/courses/{cid}/courseWork/{one}/studentSubmissions", "studentSubmissions")
    assert {s["courseWorkId"] for s in only} == {one} and len(only) == 5
    assert get(sb, f"/v1/courses/{cid}/courseWork/999/studentSubmissions").status_code == 404
    assert get(sb, "/v1/courses/404/courseWork/-/studentSubmissions").json()["error"]["status"] == "NOT_FOUND"


def test_usage_report_shapes_paging_and_lag(make_classroom_sandbox):
    sb = make_classroom_sandbox(today=date(2026, 10, 10), usage_lag_days=2, usage_users=5)
    path = "/admin/reports/v1/usage/users/all/dates/2026-10-08"
    params = {"parameters": "classroom:num_posts_created,classroom:role,accounts:last_login_time", "maxResults": 2}
    reports, pages = walk(sb, path, "usageReports", params)
    assert len(reports) == 5 and len(pages) == 3
    assert pages[0]["kind"] == "admin#reports#usageReports"
    first = reports[0]
    assert first["date"] == "2026-10-08" and first["entity"]["type"] == "USER" and "@" in first["entity"]["userEmail"]
    values = {p["name"]: p for p in first["parameters"]}
    assert set(values) == {"classroom:num_posts_created", "classroom:role", "accounts:last_login_time"}
    assert isinstance(values["classroom:num_posts_created"]["intValue"], str)
    assert "datetimeValue" in values["accounts:last_login_time"]
    too_new = get(sb, "/admin/reports/v1/usage/users/all/dates/2026-10-09")
    assert too_new.status_code == 400
    assert too_new.json()["error"]["message"] == ("Data for dates later than 2026-10-08 is not yet available. "
                                                  "Please check back later")
    assert get(sb, path, {"parameters": "classroom:bogus"}).status_code == 400
    control(sb, "mutate", {"op": "advance_days", "days": 1})
    assert get(sb, "/admin/reports/v1/usage/users/all/dates/2026-10-09").status_code == 200


def test_quota_answers_429_resource_exhausted_then_recovers(make_classroom_sandbox):
    sb = make_classroom_sandbox()
    control(sb, "quota", {"limit": 3, "window_s": 0.3})
    statuses = [get(sb, "/v1/courses").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    body = get(sb, "/v1/courses").json()["error"]
    assert body["code"] == 429 and body["status"] == "RESOURCE_EXHAUSTED"
    assert body["errors"][0]["reason"] == "rateLimitExceeded"
    time.sleep(0.35)
    assert get(sb, "/v1/courses").status_code == 200
    assert [e.quota_exceeded for e in sb.request_log].count(True) == 2


def test_mutations_stamp_a_newer_update_time_and_are_logged(classroom_sandbox):
    sb = classroom_sandbox
    cid = next(iter(sb.data.courses))
    newest = max(w["updateTime"] for w in sb.data.course_work[cid].values())
    wid = next(iter(sb.data.course_work[cid]))
    edited = control(sb, "mutate", {"op": "edit_course_work", "course_id": cid, "course_work_id": wid,
                                    "title": "Renamed", "due": "2026-12-24T17:30:00Z"})["result"]
    assert edited["updateTime"] > newest
    assert edited["dueDate"] == {"year": 2026, "month": 12, "day": 24} and edited["dueTime"] == {"hours": 17,
                                                                                                 "minutes": 30}
    top = get(sb, f"/v1/courses/{cid}/courseWork", {"pageSize": 1}).json()["courseWork"][0]
    assert top["id"] == wid and top["title"] == "Renamed"
    added = control(sb, "mutate", {"op": "add_course_work", "course_id": cid, "title": "New work"})["result"]
    assert added["updateTime"] > edited["updateTime"]
    sub = next(s for s in sb.data.submissions[cid].values() if s["courseWorkId"] == added["id"])
    graded = control(sb, "mutate", {"op": "grade_submission", "course_id": cid, "submission_id": sub["id"],
                                    "points": 7})["result"]
    assert graded["assignedGrade"] == 7 and graded["state"] == "RETURNED" and graded["updateTime"] > added["updateTime"]
    log = requests.get(f"{sb.base_url}/__sandbox__/log", timeout=TIMEOUT).json()["entries"]
    assert log[-1]["path"] == f"/v1/courses/{cid}/courseWork" and log[-1]["query"] == {"pageSize": ["1"]}
    assert all("access_token" not in e["query"] for e in log)
    bad = requests.post(f"{sb.base_url}/__sandbox__/mutate", json={"op": "grade_submission", "course_id": cid,
                                                                   "submission_id": "nope", "points": 1},
                        timeout=TIMEOUT)
    assert bad.status_code == 400


def test_same_seed_same_data(make_classroom_sandbox):
    a, b = make_classroom_sandbox(seed=4), make_classroom_sandbox(seed=4)
    c = make_classroom_sandbox(seed=5)
    assert a.data.courses == b.data.courses and a.data.submissions == b.data.submissions
    assert a.data.courses != c.data.courses
    day = date(2026, 1, 1) + timedelta(days=3)
    assert a.data.usage_reports(day) == b.data.usage_reports(day)
