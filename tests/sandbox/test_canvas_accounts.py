"""Courses the caller can no longer open, and a student's own token (over real HTTP).

Checked against canvas-lms: Api::V1::Course#course_json (the restricted stub),
SubmissionsApiController#for_students (a student's "all" is themselves; naming anyone
else is render_unauthorized_action), Api::V1::Assignment (needs_grading_count only with
:manage_grades), Api::V1::CourseJson (total_scores only on student enrollments).
"""
from __future__ import annotations

import pytest
import requests

from .helpers import TIMEOUT, get

NOT_AUTHORIZED = {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}
INSIDE = ("", "/assignment_groups", "/assignments", "/students/submissions")


def _ids(response) -> list:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("status", [401, 403])
def test_restricted_courses_are_bare_stubs_and_unauthorized_inside(make_canvas_sandbox, status):
    sb = make_canvas_sandbox(unauthorized_status=status)
    d = sb.data
    concluded = next(c for c in sorted(d.enrolled) if d.enrollment_state(c) == "completed")
    dated = next(c for c in sorted(d.enrolled) if d.enrollment_state(c) == "active")
    sb.restrict_course(concluded, "concluded")
    sb.restrict_course(dated, "date")

    active = _ids(get(sb, "/courses", params={"include[]": ["term", "total_scores"]}))
    completed = _ids(get(sb, "/courses", params={"include[]": "term", "enrollment_state": "completed"}))
    assert {"id": dated, "access_restricted_by_date": True} in active
    assert completed == [{"id": concluded, "access_restricted_by_date": True}]
    assert all("name" in c for c in active if c["id"] != dated)
    for cid in (concluded, dated):
        for inside in INSIDE:
            r = get(sb, f"/courses/{cid}{inside}", params={"student_ids[]": "all"})
            assert r.status_code == status, inside
            assert r.json() == NOT_AUTHORIZED
            assert "WWW-Authenticate" not in r.headers

    sb.restore_access(dated)
    assert get(sb, f"/courses/{dated}/assignment_groups").status_code == 200


def test_revoked_course_stays_listed_but_answers_unauthorized(make_canvas_sandbox):
    sb = make_canvas_sandbox(unauthorized_status=403)
    cid = min(sb.data.enrolled)
    assert get(sb, f"/courses/{cid}/assignment_groups").status_code == 200
    ctl = sb.base_url + "/__sandbox__"
    assert requests.post(ctl + "/mutate", json={"op": "revoke_access", "course_id": cid}, timeout=TIMEOUT).ok
    listed = {c["id"]: c for c in _ids(get(sb, "/courses", params={"include[]": "term"}))}
    assert listed[cid]["name"] == sb.data.courses[cid]["name"]  # still listed in full
    r = get(sb, f"/courses/{cid}/assignment_groups")
    assert (r.status_code, r.json()) == (403, NOT_AUTHORIZED)
    assert "WWW-Authenticate" not in r.headers
    # the token itself is still good
    assert get(sb, "/users/self").status_code == 200
    assert requests.post(ctl + "/mutate", json={"op": "restrict_course", "course_id": cid, "reason": "nope"},
                         timeout=TIMEOUT).status_code == 400


def test_student_token_sees_only_its_own_submissions(canvas_sandbox):
    sb = canvas_sandbox
    token = sb.student_token
    me = get(sb, "/users/self", token=token).json()
    assert me["id"] == sb.student_id and me["name"] == sb.data.students[0]["name"]
    cid = next(c for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "active")
    published = {a["id"] for a in sb.data.course_assignments(cid) if a["published"]}
    own = [s for s in sb.data.iter_submissions(cid, published_only=True) if s["user_id"] == sb.student_id]

    for params in ({"student_ids[]": "all", "per_page": 100}, {"per_page": 100},
                   {"student_ids[]": str(sb.student_id), "per_page": 100}):
        got = _ids(get(sb, f"/courses/{cid}/students/submissions", params=params, token=token))
        assert [s["id"] for s in got] == [s["id"] for s in own], params
        assert {s["user_id"] for s in got} == {sb.student_id}
    other = sb.data.students[1]["id"]
    r = get(sb, f"/courses/{cid}/students/submissions", params={"student_ids[]": [str(other)]}, token=token)
    assert (r.status_code, r.json()) == (401, NOT_AUTHORIZED)
    aid = next(iter(published))
    assert get(sb, f"/courses/{cid}/assignments/{aid}/submissions", token=token).status_code == 401
    assert get(sb, f"/courses/{cid}/assignments/{aid}/submissions/{other}", token=token).status_code == 401
    assert get(sb, f"/courses/{cid}/assignments/{aid}/submissions/self", token=token).json()["user_id"] == me["id"]
    # the teacher still sees everyone
    everyone = _ids(get(sb, f"/courses/{cid}/students/submissions", params={"student_ids[]": "all",
                                                                             "per_page": 100}))
    assert len({s["user_id"] for s in everyone}) == len(sb.data.students)


def test_older_instances_refuse_a_students_all(make_canvas_sandbox):
    sb = make_canvas_sandbox(student_all="unauthorized")
    cid = min(sb.data.enrolled)
    r = get(sb, f"/courses/{cid}/students/submissions", params={"student_ids[]": "all"}, token=sb.student_token)
    assert (r.status_code, r.json()) == (401, NOT_AUTHORIZED)
    own = _ids(get(sb, f"/courses/{cid}/students/submissions", token=sb.student_token))
    assert own and {s["user_id"] for s in own} == {sb.student_id}
    assert get(sb, f"/courses/{cid}/students/submissions", params={"student_ids[]": "all"}).status_code == 200


def test_student_assignments_lack_grader_fields_and_unpublished_ones(canvas_sandbox):
    sb = canvas_sandbox
    cid = next(c for c in sorted(sb.data.enrolled)
               if any(not a["published"] for a in sb.data.course_assignments(c)))
    groups = _ids(get(sb, f"/courses/{cid}/assignment_groups", params={"include[]": "assignments",
                                                                        "per_page": 100}, token=sb.student_token))
    assignments = [a for g in groups for a in g["assignments"]]
    assert assignments and all(a["published"] for a in assignments)
    assert all("needs_grading_count" not in a and "sis_assignment_id" not in a for a in assignments)
    assert "has_submitted_submissions" in assignments[0]
    teacher = _ids(get(sb, f"/courses/{cid}/assignments", params={"per_page": 100}))
    assert all("needs_grading_count" in a for a in teacher)
    assert len(teacher) > len(assignments)


def test_student_course_list_carries_own_total_scores(canvas_sandbox):
    sb = canvas_sandbox
    courses = _ids(get(sb, "/courses", params={"include[]": ["term", "total_scores"]}, token=sb.student_token))
    assert courses
    for course in courses:
        (enrollment,) = course["enrollments"]
        assert enrollment["type"] == "student" and enrollment["user_id"] == sb.student_id
        assert set(enrollment) >= {"computed_current_score", "computed_final_score"}
    first = courses[0]
    score = first["enrollments"][0]["computed_current_score"]
    assert score is not None and 0 <= score <= 150
    # a new zero lowers the current score (the first ungraded published assignment worth points)
    target = next(s for s in sb.data.iter_submissions(first["id"], published_only=True)
                  if s["user_id"] == sb.student_id and s["score"] is None and not s["excused"]
                  and sb.data.assignments[s["assignment_id"]]["points_possible"])
    sb.grade_submission(target["assignment_id"], sb.student_id, 0)
    again = _ids(get(sb, "/courses", params={"include[]": "total_scores"}, token=sb.student_token))
    assert again[0]["enrollments"][0]["computed_current_score"] < score
    # without the include, and for the teacher, no scores
    plain = _ids(get(sb, "/courses", token=sb.student_token))
    assert "computed_current_score" not in plain[0]["enrollments"][0]
    teacher = _ids(get(sb, "/courses", params={"include[]": "total_scores"}))
    assert teacher[0]["enrollments"][0]["type"] == "teacher"
    assert "computed_current_score" not in teacher[0]["enrollments"][0]
