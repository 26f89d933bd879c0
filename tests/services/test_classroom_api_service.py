"""ClassroomAPIService against the sandbox Google Classroom over real HTTP."""
from __future__ import annotations

from datetime import date

import pytest

from app.services.classroom_api_service import InvalidCredentials, NotFound, QuotaExhausted, UsageNotYetAvailable
from app.services.http import RequestStats, build_session
from tests.fixtures.classroom import classroom_client


def test_courses_follow_page_tokens_to_the_end(make_classroom_sandbox, classroom_session):
    sb = make_classroom_sandbox(courses=5)
    client = classroom_client(sb, classroom_session, page_size=2)
    courses = list(client.iter_courses(states=None))
    assert [c["id"] for c in courses] == list(sb.data.courses)
    calls = sb.requests("/v1/courses")
    assert len(calls) == 3 and "pageToken" not in calls[0].query and "pageToken" in calls[2].query


def test_course_work_is_lazy_newest_first(classroom_sandbox, classroom_session):
    sb = classroom_sandbox
    cid = next(iter(sb.data.courses))
    client = classroom_client(sb, classroom_session, page_size=2)
    work = client.iter_course_work(cid)
    first = next(work)
    assert first["updateTime"] == max(w["updateTime"] for w in sb.data.course_work[cid].values())
    assert len(sb.requests("/courseWork")) == 1  # stopping early costs no further page
    rest = list(work)
    assert len(rest) == 5 and sb.requests("/courseWork")[0].query["orderBy"] == ["updateTime desc"]


def test_submissions_of_a_whole_course(classroom_sandbox, classroom_session):
    sb = classroom_sandbox
    cid = next(iter(sb.data.courses))
    subs = list(classroom_client(sb, classroom_session, page_size=8).iter_student_submissions(cid))
    assert sorted(s["id"] for s in subs) == sorted(sb.data.submissions[cid])
    assert all(e.path == f"/v1/courses/{cid}/courseWork/-/studentSubmissions" for e in sb.requests("Submissions"))


def test_429_is_retried_with_backoff(classroom_sandbox):
    stats = RequestStats()
    session = build_session(stats=stats, backoff_factor=0.01)
    classroom_sandbox.fail_next(3)
    courses = list(classroom_client(classroom_sandbox, session).iter_courses())
    assert len(courses) == 2
    log = classroom_sandbox.requests("/v1/courses")
    assert [e.status for e in log] == [429, 429, 429, 200]
    assert stats.retries == 3 and stats.throttles == 3


def test_quota_still_exhausted_after_retries_is_plain_words(classroom_sandbox):
    session = build_session(total_retries=2, backoff_factor=0.01)
    classroom_sandbox.fail_next(10)
    with pytest.raises(QuotaExhausted) as caught:
        list(classroom_client(classroom_sandbox, session).iter_courses())
    assert "quota" in caught.value.message and caught.value.retriable
    assert len(classroom_sandbox.requests("/v1/courses")) == 3


def test_bad_token_is_permanent_and_in_plain_words(classroom_sandbox, classroom_session):
    with pytest.raises(InvalidCredentials) as caught:
        list(classroom_client(classroom_sandbox, classroom_session, token="wrong-token").iter_courses())
    assert caught.value.message.startswith("Google Classroom rejected the access token")
    assert not caught.value.retriable and "wrong-token" not in caught.value.message
    with pytest.raises(InvalidCredentials):  # never sent: no header can carry it
        list(classroom_client(classroom_sandbox, classroom_session, token="bad token\u00e9").iter_courses())
    assert len(classroom_sandbox.requests()) == 1


def test_unknown_course_is_not_found(classroom_sandbox, classroom_session):
    with pytest.raises(NotFound, match="no /v1/courses/123/courseWork"):
        list(classroom_client(classroom_sandbox, classroom_session).iter_course_work("123"))


def test_usage_reports_page_and_too_new_dates_are_told_apart(make_classroom_sandbox, classroom_session):
    sb = make_classroom_sandbox(today=date(2026, 10, 10), usage_lag_days=2, usage_users=7)
    client = classroom_client(sb, classroom_session)
    reports = list(client._items(f"{sb.base_url}/admin/reports/v1/usage/users/all/dates/2026-10-08", {},
                                 "usageReports", size_param="maxResults", page_size=3))
    assert len(reports) == 7 and len(sb.requests("/usage/")) == 3
    day_reports = list(client.iter_usage_reports(date(2026, 10, 8)))
    assert {r["entity"]["userEmail"] for r in day_reports} == set(sb.data.usage_emails)
    assert sb.requests("/usage/")[-1].query["parameters"][0].startswith("classroom:timestamp_last_interaction")
    with pytest.raises(UsageNotYetAvailable) as caught:
        list(client.iter_usage_reports(date(2026, 10, 9)))
    assert caught.value.day == date(2026, 10, 9) and "2026-10-09" in caught.value.message


def test_a_used_up_quota_window_is_waited_out(make_classroom_sandbox):
    sb = make_classroom_sandbox()
    sb.set_quota(4, window_s=0.3)  # Google's window is a minute; a short one keeps the test fast
    session = build_session(total_retries=8, backoff_factor=0.1)
    cid = next(iter(sb.data.courses))
    subs = list(classroom_client(sb, session, page_size=3).iter_student_submissions(cid))
    assert len(subs) == 30  # 10 pages, more than one window's quota
    log = sb.requests("/studentSubmissions")
    assert any(e.status == 429 for e in log) and log[-1].status == 200
    assert len([e for e in log if e.status == 200]) == 10
