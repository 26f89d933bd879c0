"""Every system's 429 with Retry-After is waited out by the shared client and counted, against
each sandbox's own throttle."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from app.services.canvas_api_service import CanvasAPIService
from app.services.classroom_api_service import build_classroom_session
from app.services.http import RequestStats
from app.services.schoology_api_service import SchoologyAPIService
from tests.fixtures.classroom import classroom_client
from tests.fixtures.discourse import discourse_api


def test_canvas_429_with_retry_after_is_waited_out_and_counted(make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=100, throttle_status=429)
    sb.set_throttle(True, 429, retry_after=0.5)
    client = CanvasAPIService(sb.base_url, sb.token, timeout=5.0, backoff_factor=0.02, max_throttle_waits=30,
                              max_concurrency=20)
    client.throttle.reserve = -10_000  # overrun the bucket on purpose, as a naive client would
    course = sorted(sb.data.enrolled)[0]
    started = time.monotonic()
    with client, ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: client.get_assignment_groups(course), range(20)))
    assert all(results)
    throttled = sum(1 for e in sb.request_log if e.throttled)
    assert throttled > 0, "the sandbox never throttled"
    assert client.stats.throttles == throttled
    assert time.monotonic() - started >= 0.5


def test_discourse_429_with_retry_after_is_waited_out_and_counted(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle_limit=3, throttle_window_s=1)
    client = discourse_api(sb)
    started = time.monotonic()
    for i in range(5):
        client.create_post(1, f"Throttled reply number {i}, long enough to post.")
    throttled = sum(1 for e in sb.request_log if e.status == 429)
    assert throttled > 0
    assert client.stats.throttles == throttled and client.stats.retries >= throttled
    assert time.monotonic() - started >= 0.9  # Discourse asked for whole seconds


def test_classroom_429_with_retry_after_is_waited_out_and_counted(classroom_sandbox):
    stats = RequestStats()
    session = build_classroom_session(stats=stats, backoff_factor=0.01)
    classroom_sandbox.fail_next(2, retry_after=0.4)
    started = time.monotonic()
    courses = list(classroom_client(classroom_sandbox, session).iter_courses())
    assert len(courses) == 2
    assert [e.status for e in classroom_sandbox.requests("/v1/courses")] == [429, 429, 200]
    assert stats.throttles == 2 and stats.retries == 2
    assert time.monotonic() - started >= 0.8  # Retry-After, not the 0.01 s backoff


def test_schoology_429_with_retry_after_is_waited_out_and_counted(make_schoology_sandbox):
    sb = make_schoology_sandbox(assignments=4, throttle_limit=2, throttle_window_s=0.5, retry_after=True)
    client = SchoologyAPIService(SchoologyAPIService.build_session(), sb.consumer_key, sb.consumer_secret,
                                 api_url=sb.api_url, page_size=1, backoff_factor=0.01, max_attempts=12)
    sid = sb.data.section_ids()[0]
    started = time.monotonic()
    assert len(list(client.iter_assignments(sid))) == 4
    throttled = sum(1 for e in sb.request_log if e.status == 429)
    assert throttled > 0
    assert client.stats.throttles == throttled
    assert time.monotonic() - started >= 0.5  # Retry-After (whole seconds), not the 0.01 s backoff
