"""CanvasAPIService against the sandbox Canvas over real HTTP."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.services.canvas_api_service import (
    BadResponse,
    CanvasAPIService,
    CanvasUnavailable,
    Forbidden,
    Unauthorized,
    InvalidToken,
    NotFound,
)


def api(sb, token=None, **kwargs) -> CanvasAPIService:
    kwargs = {"timeout": 2.0, "backoff_factor": 0.02, "max_throttle_waits": 30, **kwargs}
    return CanvasAPIService(sb.base_url, token or sb.token, **kwargs)


def test_get_self(canvas_sandbox):
    assert api(canvas_sandbox).get_self()["id"] == canvas_sandbox.data.self_user["id"]


@pytest.mark.parametrize("which,reason", [("expired_token", "expired"), ("revoked_token", "revoked"),
                                          (None, "invalid")])
def test_token_problems_are_invalid_token_with_the_reason(canvas_sandbox, which, reason):
    token = getattr(canvas_sandbox, which) if which else "wrong-token"
    with pytest.raises(InvalidToken) as caught:
        api(canvas_sandbox, token).get_courses()
    assert caught.value.reason == reason
    assert str(caught.value) == f"Canvas rejected the access token ({reason})."
    assert token not in str(caught.value)


def test_unknown_course_is_not_found_and_foreign_course_is_forbidden(canvas_sandbox):
    client = api(canvas_sandbox)
    with pytest.raises(NotFound):
        client.get_assignment_groups(999999)
    dropped = sorted(canvas_sandbox.data.enrolled)[0]
    canvas_sandbox.unenroll(dropped)
    with pytest.raises(Forbidden) as caught:
        client.get_assignment_groups(dropped)
    assert not isinstance(caught.value, InvalidToken)  # no WWW-Authenticate: a permission problem
    assert isinstance(caught.value, Unauthorized)  # render_unauthorized_action: a course no longer open


def test_other_403s_are_forbidden_but_not_a_closed_course(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    unpublished = sb.add_assignment(cid, published=False)["id"]
    with pytest.raises(Forbidden) as caught:  # 403 {"error": "invalid assignment ids requested"}
        api(sb).get_submissions(cid, assignment_ids=[unpublished])
    assert caught.value.status == 403 and not isinstance(caught.value, Unauthorized)


def test_restricted_stub_comes_through_the_course_list(canvas_sandbox):
    sb = canvas_sandbox
    concluded = next(c for c in sorted(sb.data.enrolled) if sb.data.enrollment_state(c) == "completed")
    sb.restrict_course(concluded)
    listed = api(sb).get_courses(enrollment_state="completed", include_scores=True)
    assert listed == [{"id": concluded, "access_restricted_by_date": True}]
    with pytest.raises(Unauthorized):
        api(sb).get_course(concluded)


def test_numbered_pages_read_every_row_once(canvas_sandbox):
    sb = canvas_sandbox
    client = api(sb, per_page=1)
    courses = client.get_courses()
    assert [c["id"] for c in courses] == sorted(c for c in sb.data.enrolled if sb.data.enrollment_state(c) == "active")
    pages = [e for e in sb.request_log if e.path.endswith("/courses")]
    assert len(pages) == len(courses)  # one request per page, no page read twice


def test_bookmark_pages_read_every_row_once(canvas_sandbox):
    sb = canvas_sandbox
    course = sorted(sb.data.enrolled)[0]
    sb.clear_log()
    subs = api(sb, per_page=7).get_submissions(course)
    expected = [s["id"] for s in sb.data.iter_submissions(course, published_only=True)]
    assert [s["id"] for s in subs] == expected
    assert len(sb.request_log) == -(-len(expected) // 7)


def test_submissions_since_filters(canvas_sandbox):
    sb = canvas_sandbox
    course = sorted(sb.data.enrolled)[0]
    assert api(sb).get_submissions(course, graded_since="2999-01-01T00:00:00Z") == []


@pytest.mark.parametrize("status", [403, 429])
def test_throttling_is_waited_out_not_reported(make_canvas_sandbox, status):
    sb = make_canvas_sandbox(latency_ms=250, throttle_status=status)
    client = api(sb, max_concurrency=20)
    client.throttle.reserve = -10_000  # let the client overrun the bucket, as a naive one would
    course = sorted(sb.data.enrolled)[0]
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: client.get_assignment_groups(course), range(20)))
    assert all(results)
    assert any(e.throttled for e in sb.request_log), "the sandbox never throttled"
    assert client.stats.throttles > 0


def test_adaptive_throttle_keeps_concurrent_calls_under_the_limit(make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=250)
    client = api(sb, max_concurrency=20)
    course = sorted(sb.data.enrolled)[0]
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda _: client.get_assignment_groups(course), range(20)))
    assert not any(e.throttled for e in sb.request_log)


def test_malformed_bodies_are_retried_then_bad_response(canvas_sandbox):
    canvas_sandbox.set_faults(1.0, seed=1, kinds=["malformed"])
    with pytest.raises(BadResponse, match="unreadable"):
        api(canvas_sandbox, max_retries=2).get_courses()


def test_server_errors_are_retried_then_unavailable(canvas_sandbox):
    canvas_sandbox.set_faults(1.0, seed=1, kinds=["500"])
    with pytest.raises(CanvasUnavailable):
        api(canvas_sandbox, max_retries=2).get_self()
    canvas_sandbox.set_faults(0.0)
    client = api(canvas_sandbox)
    assert client.get_self()


def test_unreachable_canvas_is_plain(canvas_sandbox):
    with pytest.raises(CanvasUnavailable, match="Could not reach Canvas at 127.0.0.1:1"):
        CanvasAPIService("http://127.0.0.1:1", "t", max_retries=0).get_self()


def test_token_never_reaches_logs_or_errors(canvas_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    canvas_sandbox.set_faults(0.5, seed=4)
    client = api(canvas_sandbox, timeout=0.5)
    canvas_sandbox.faults.slow_s = 1.0
    try:
        client.get_courses()
        client.get_submissions(sorted(canvas_sandbox.data.enrolled)[0])
    except Exception as exc:  # faults may exhaust retries: the message must still be clean
        assert canvas_sandbox.token not in str(exc)
    assert canvas_sandbox.token not in caplog.text


def test_insufficient_scope_is_its_own_error(canvas_sandbox):
    from app.services.canvas_api_service import InsufficientScope

    client = api(canvas_sandbox, canvas_sandbox.scoped_token)
    assert client.get_self()
    with pytest.raises(InsufficientScope, match="lacks the scopes"):
        client.get_courses()
