import time

import pytest
import requests
from werkzeug import Response

from app.services.http import LeakyBucketThrottle, RequestStats, backoff_delay, build_session


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_throttle_limits_concurrency_by_headroom():
    clock = FakeClock()
    throttle = LeakyBucketThrottle(max_concurrency=10, capacity=700, upfront=50, reserve=100, clock=clock)
    for _ in range(10):  # a full bucket of headroom allows the maximum
        throttle.acquire(timeout=0)
    assert throttle.in_flight == 10
    for _ in range(10):
        throttle.release(remaining=150)  # the server reports little headroom
    throttle.acquire(timeout=0)  # one request is always allowed
    with pytest.raises(TimeoutError):
        throttle.acquire(timeout=0)
    clock.now += 10  # the bucket drains 10 units/s
    throttle.acquire(timeout=0)
    assert throttle.in_flight == 2


def test_throttled_pauses_everyone():
    clock = FakeClock()
    throttle = LeakyBucketThrottle(clock=clock)
    throttle.throttled(2.0)
    with pytest.raises(TimeoutError):
        throttle.acquire(timeout=0)
    clock.now += 2.0
    throttle.acquire(timeout=0)


def test_backoff_honours_retry_after_and_caps():
    assert backoff_delay(1, retry_after="3") == 3.0
    assert backoff_delay(1, retry_after="999", cap=30) == 30
    assert 0 <= backoff_delay(10, base=0.5, cap=4) <= 4


def test_session_retries_5xx_and_counts(httpserver):
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        return Response("busy", status=503) if calls["n"] < 3 else Response("{}", content_type="application/json")

    httpserver.expect_request("/flaky").respond_with_handler(handler)
    stats = RequestStats()
    session = build_session(stats=stats, backoff_factor=0.01)
    started = time.monotonic()
    assert session.get(httpserver.url_for("/flaky"), timeout=5).status_code == 200
    assert calls["n"] == 3
    assert stats.retries == 2
    assert time.monotonic() - started < 5


def test_session_honours_retry_after_on_429(httpserver):
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        if calls["n"] == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response("ok")

    httpserver.expect_request("/limited").respond_with_handler(handler)
    stats = RequestStats()
    started = time.monotonic()
    response = build_session(stats=stats, backoff_factor=0.01).get(httpserver.url_for("/limited"), timeout=5)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.9
    assert stats.throttles == 1


def test_session_pool_sizes():
    adapter = build_session().get_adapter("http://x")
    assert adapter._pool_connections == 10 and adapter._pool_maxsize == 20
    with pytest.raises(requests.exceptions.ConnectionError):
        build_session(total_retries=0).get("http://127.0.0.1:1/", timeout=1)


def test_session_reads_proxy_environment_once_per_host(monkeypatch):
    session = build_session()
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    first = session.merge_environment_settings("http://canvas.example/api/v1/courses", {}, None, None, None)
    assert first["proxies"].get("http") == "http://proxy.invalid:3128"
    local = session.merge_environment_settings("http://127.0.0.1:5000/api/v1/courses", {}, None, None, None)
    assert "http" not in local["proxies"]  # no_proxy still applies, per host
    monkeypatch.delenv("HTTP_PROXY")
    again = session.merge_environment_settings("http://canvas.example/api/v1/users/self", {}, None, None, None)
    assert again == first  # read once for the host, not per request
    explicit = session.merge_environment_settings("http://canvas.example/x", {"http": "http://other.invalid"},
                                                  None, None, None)
    assert explicit["proxies"]["http"] == "http://other.invalid"  # explicit settings bypass the cache
