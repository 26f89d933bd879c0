"""SchoologyAPIService against the sandbox over real HTTP."""
from __future__ import annotations

import socket

import pytest
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.services.http import build_session
from app.services.schoology_api_service import (
    BadResponse,
    InvalidCredentials,
    SchoologyAPIService,
    Throttled,
    Unavailable,
)


def client_for(sb, *, secret=None, session=None, **kwargs) -> SchoologyAPIService:
    return SchoologyAPIService(session or SchoologyAPIService.build_session(), sb.consumer_key,
                               secret or sb.consumer_secret, api_url=sb.api_url, **kwargs)


def test_get_me_follows_the_redirect_with_a_fresh_signature(schoology_sandbox, schoology_client):
    me = schoology_client.get_me()
    assert (me.uid, me.tz_name) == (schoology_sandbox.data.me["uid"], "America/New_York")
    log = schoology_sandbox.request_log
    assert [(e.path, e.status) for e in log] == [("/v1/users/me", 303), ("/v1/users/45552", 200)]
    assert all(e.refusal is None for e in log)


@pytest.mark.parametrize("method", ["HMAC-SHA1", "PLAINTEXT"])
def test_paging_follows_links_next_across_pages(make_schoology_sandbox, method):
    sb = make_schoology_sandbox(assignments=7)
    sid = sb.data.section_ids()[0]
    client = client_for(sb, page_size=3, signature_method=method)
    got = list(client.iter_assignments(sid))
    assert [a.id for a in got] == [str(a["id"]) for a in sb.data.section_assignments(sid)]
    assert [e.query for e in sb.request_log] == ["start=0&limit=3", "start=3&limit=3", "start=6&limit=3"]
    first = sb.data.section_assignments(sid)[0]
    assert got[0].max_points == float(first["max_points"]) and got[0].section_id == sid
    assert got[0].due_local.strftime("%Y-%m-%d %H:%M:%S") == first["due"]


def test_sections_grades_and_revisions_are_typed(schoology_sandbox, schoology_client):
    sb = schoology_sandbox
    course_id = str(next(iter(sb.data.courses)))
    assert [s.id for s in schoology_client.iter_sections(course_id)] == [
        s["id"] for s in sb.data.course_sections(int(course_id), include_past=False)]
    past = [s for s in schoology_client.iter_sections(course_id, include_past=True) if not s.active]
    assert len(past) == 1 and past[0].grading_period_ids == ("435",)
    sid = sb.data.section_ids()[0]
    grades = list(schoology_client.iter_grades(sid))
    assert {(g.assignment_id, g.enrollment_id, g.grade) for g in grades} == {
        (str(g["assignment_id"]), str(g["enrollment_id"]), g["grade"]) for g in sb.data.section_grades(sid)}
    aid = next(a for (a, _u) in sb.data.revisions if sb.data.assignments[a]["_section_id"] == sid)
    revisions = list(schoology_client.iter_revisions(sid, str(aid)))
    assert {r.uid for r in revisions} == {u for (a, u) in sb.data.revisions if a == aid}
    assert all(r.created.tzinfo is not None for r in revisions)


@pytest.mark.parametrize("method", ["HMAC-SHA1", "PLAINTEXT"])
def test_wrong_secret_is_reported_in_plain_words(schoology_sandbox, method):
    client = client_for(schoology_sandbox, secret="wrong-secret-123", signature_method=method)
    with pytest.raises(InvalidCredentials) as info:
        client.get_me()
    assert info.value.message == "Schoology refused the OAuth signature: check the consumer key and secret."
    assert "wrong-secret-123" not in str(info.value) and "base string" not in str(info.value)
    assert schoology_sandbox.request_log[-1].status == 401


def test_missing_credentials_are_refused_before_any_request(schoology_sandbox):
    with pytest.raises(InvalidCredentials, match="add the API consumer key and secret"):
        SchoologyAPIService(SchoologyAPIService.build_session(), schoology_sandbox.consumer_key, "",
                            api_url=schoology_sandbox.api_url)
    assert schoology_sandbox.request_log == []


def test_throttled_requests_are_retried_and_nothing_is_lost(make_schoology_sandbox):
    sb = make_schoology_sandbox(assignments=9, throttle_limit=3, throttle_window_s=0.5)
    sid = sb.data.section_ids()[0]
    client = client_for(sb, page_size=1, backoff_factor=0.1, max_attempts=12)
    got = [a.id for a in client.iter_assignments(sid)]
    assert got == [str(a["id"]) for a in sb.data.section_assignments(sid)]
    assert any(e.status == 429 for e in sb.request_log)
    assert client.stats.throttles == sum(1 for e in sb.request_log if e.status == 429)
    assert all(e.refusal is None for e in sb.request_log)  # each retry signed afresh


def test_server_errors_are_retried_with_a_new_signature(schoology_sandbox):
    sb = schoology_sandbox
    sb.fail_next(2, status=503)
    client = client_for(sb, backoff_factor=0.01)
    assert len(list(client.iter_courses())) == len(sb.data.courses)
    # a reused nonce would have been refused (401) after the first 503
    assert [e.status for e in sb.request_log] == [503, 503, 200]
    assert client.stats.retries == 2


def test_a_transport_level_replay_is_re_signed(schoology_sandbox):
    """A session whose urllib3 retries 503 resends the same nonce; the service signs once more."""
    sb = schoology_sandbox
    sb.fail_next(1, status=503)
    session = build_session(backoff_factor=0)
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, status_forcelist=(503,), backoff_factor=0)))
    client = client_for(sb, session=session)
    assert len(list(client.iter_courses())) == len(sb.data.courses)
    assert [e.status for e in sb.request_log] == [503, 401, 200]
    assert "Duplicate timestamp/nonce" in sb.request_log[1].refusal


def test_persistent_throttling_gives_up_in_plain_words(make_schoology_sandbox):
    sb = make_schoology_sandbox(throttle_limit=1, throttle_window_s=60)
    client = client_for(sb, backoff_factor=0.01, max_attempts=3)
    list(client.iter_courses())
    with pytest.raises(Throttled, match="kept asking us to slow down"):
        list(client.iter_courses())
    assert [e.status for e in sb.request_log] == [200, 429, 429, 429]


@pytest.mark.parametrize("method", ["HMAC-SHA1", "PLAINTEXT"])
def test_a_next_page_on_another_host_is_not_followed(make_schoology_sandbox, method):
    """A PLAINTEXT signature is the secret itself: it must never be sent anywhere but the API."""
    sb = make_schoology_sandbox(assignments=3)
    sb.set_links_host("127.0.0.2:9")
    client = client_for(sb, page_size=1, signature_method=method)
    with pytest.raises(BadResponse, match="points at another host"):
        list(client.iter_assignments(sb.data.section_ids()[0]))
    assert len(sb.request_log) == 1


def test_unreachable_schoology_is_reported(schoology_sandbox):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = SchoologyAPIService(SchoologyAPIService.build_session(total_retries=0), "k", "s",
                                 api_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(Unavailable, match="Could not reach Schoology"):
        client.get_me()
