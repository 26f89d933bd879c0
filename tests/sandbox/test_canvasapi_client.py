"""An independent client (ucfopen/canvasapi) agrees with the sandbox's own data."""
from __future__ import annotations

import pytest
from canvasapi import Canvas
from canvasapi.exceptions import Forbidden, InvalidAccessToken, RateLimitExceeded, ResourceDoesNotExist, Unauthorized

ASSIGNMENT_FIELDS = ("id", "name", "due_at", "points_possible", "updated_at", "created_at", "published",
                     "assignment_group_id", "position", "submission_types")
pytestmark = pytest.mark.filterwarnings("ignore:Canvas may respond unexpectedly:UserWarning")

SUBMISSION_FIELDS = ("id", "user_id", "assignment_id", "score", "grade", "submitted_at", "graded_at",
                     "workflow_state", "late", "missing", "excused", "attempt", "seconds_late")


@pytest.fixture
def sb(make_canvas_sandbox):
    return make_canvas_sandbox(courses=4, assignments=14, students=9, seed=5)


def test_courses_assignments_and_submissions_match(sb):
    canvas = Canvas(sb.base_url, sb.token)
    d = sb.data
    assert canvas.get_current_user().id == d.self_user["id"]
    courses = list(canvas.get_courses(include=["term"], per_page=2))
    active = [c for c in sorted(d.enrolled) if d.enrollment_state(c) == "active"]
    assert [c.id for c in courses] == active
    assert {c.name for c in courses} == {d.courses[c]["name"] for c in active}
    assert all(c.term["id"] == d.courses[c.id]["enrollment_term_id"] for c in courses)
    completed = list(canvas.get_courses(enrollment_state="completed"))
    assert [c.id for c in completed] == [c for c in sorted(d.enrolled) if d.enrollment_state(c) == "completed"]

    for course in courses + completed:
        expected = d.course_assignments(course.id)
        got = list(course.get_assignments(per_page=5))
        assert [a.id for a in got] == [a["id"] for a in expected]
        for a, e in zip(got, expected):
            assert {f: getattr(a, f) for f in ASSIGNMENT_FIELDS} == {f: e[f] for f in ASSIGNMENT_FIELDS}
        groups = list(course.get_assignment_groups(include=["assignments"]))
        assert sorted(x["id"] for g in groups for x in g.assignments) == sorted(a["id"] for a in expected)

        subs = list(course.get_multiple_submissions(student_ids=["all"], per_page=40))
        expected_subs = list(d.iter_submissions(course.id, published_only=True))
        assert len(subs) == len(expected_subs)
        for s, e in zip(subs, expected_subs):
            assert {f: getattr(s, f) for f in SUBMISSION_FIELDS} == {f: e[f] for f in SUBMISSION_FIELDS}

        first = got[0]
        per_assignment = list(first.get_submissions(per_page=4))
        assert [s.user_id for s in per_assignment] == [u["id"] for u in d.students]
        assert [s.id for s in per_assignment] == [d.get_submission(first.id, u["id"])["id"] for u in d.students]


def test_changes_are_seen_by_canvasapi(sb):
    canvas = Canvas(sb.base_url, sb.token)
    cid = min(sb.data.enrolled)
    a = sb.data.course_assignments(cid)[0]
    sb.rename_course(cid, "Renamed Course 999")
    sb.update_assignment(a["id"], points_possible=42)
    assert canvas.get_course(cid).name == "Renamed Course 999"
    assert canvas.get_course(cid).get_assignment(a["id"]).points_possible == 42


def test_canvasapi_error_mapping(sb):
    cid = min(sb.data.enrolled)
    with pytest.raises(InvalidAccessToken):
        Canvas(sb.base_url, "wrong-token").get_current_user()
    with pytest.raises(InvalidAccessToken):
        Canvas(sb.base_url, sb.expired_token).get_current_user()
    canvas = Canvas(sb.base_url, sb.token)
    with pytest.raises(ResourceDoesNotExist):
        canvas.get_course(999999)
    sb.unenroll(cid)
    with pytest.raises(Unauthorized):
        canvas.get_course(cid)
    sb.set_faults(1.0, seed=1, kinds=["throttle"])
    with pytest.raises(Forbidden, match="Rate Limit Exceeded"):
        canvas.get_current_user()
    sb.set_throttle(True, status=429)
    with pytest.raises(RateLimitExceeded):
        canvas.get_current_user()


def test_discussions_through_canvasapi(sb):
    canvas = Canvas(sb.base_url, sb.token)
    course = canvas.get_course(min(sb.data.enrolled))
    topic = course.create_discussion_topic(title="From canvasapi", message="hello")
    assert topic.title == "From canvasapi"
    entry = topic.post_entry(message="a reply")
    assert entry.message == "a reply"
    assert [e.id for e in topic.get_topic_entries()] == [entry.id]
    assert topic.id in {t.id for t in course.get_discussion_topics()}
