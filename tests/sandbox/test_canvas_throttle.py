"""Canvas's leaky-bucket throttle: sequential clients never trip it, 20 in flight do."""
from __future__ import annotations

import threading

import requests

from sandbox.canvas.throttle import HIGH_WATER_MARK, LeakyBucket

from .helpers import TIMEOUT, get, session

BODY_403 = "403 Forbidden (Rate Limit Exceeded)"


def fire_concurrently(sb, n: int = 20, path: str = "/courses") -> list[requests.Response]:
    """n threads, each with its own connection, released together by a barrier."""
    barrier = threading.Barrier(n, timeout=TIMEOUT)
    results: list = [None] * n
    sessions = [session(sb) for _ in range(n)]

    def worker(i):
        barrier.wait()
        results[i] = sessions[i].get(sb.api_url + path, timeout=TIMEOUT)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT + 5)
    for s in sessions:
        s.close()
    assert all(r is not None for r in results)
    return results


def test_cost_and_remaining_headers_on_every_api_response(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    for r in (get(sb, "/users/self"), get(sb, "/courses/999999"), get(sb, f"/courses/{cid}/assignments"),
              get(sb, "/users/self", token="bad")):
        cost = float(r.headers["X-Request-Cost"])
        remaining = float(r.headers["X-Rate-Limit-Remaining"])
        assert 0 < cost < 5
        assert 0 < remaining <= HIGH_WATER_MARK


def test_sequential_requests_never_trip(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    s = session(sb)
    paths = ["/courses", f"/courses/{cid}/assignments?per_page=100",
             f"/courses/{cid}/students/submissions?student_ids[]=all&per_page=100", "/planner/items"]
    for i in range(400):
        r = s.get(sb.api_url + paths[i % len(paths)], timeout=TIMEOUT)
        assert r.status_code == 200, (i, r.text)
        assert float(r.headers["X-Rate-Limit-Remaining"]) > HIGH_WATER_MARK - 60
    assert not any(e.throttled for e in sb.request_log)


def test_twenty_concurrent_requests_trip_it(make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=250)
    results = fire_concurrently(sb, 20)
    throttled = [r for r in results if r.status_code == 403]
    assert throttled, [r.status_code for r in results]
    assert all(r.status_code in (200, 403) for r in results)
    for r in throttled:
        assert r.text == BODY_403
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.headers["X-Rate-Limit-Remaining"] == "0.0"
    assert sum(e.throttled for e in sb.request_log) == len(throttled)
    # in-flight charges are refunded: one request at a time goes through again
    assert get(sb, "/users/self").status_code == 200


def test_throttle_status_429(make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=250, throttle_status=429)
    results = fire_concurrently(sb, 20)
    throttled = [r for r in results if r.status_code == 429]
    assert throttled and all(r.status_code in (200, 429) for r in results)
    assert all("(Rate Limit Exceeded)" in r.text for r in throttled)


def test_no_throttle_lets_everything_through(make_canvas_sandbox):
    sb = make_canvas_sandbox(latency_ms=250, throttle=False)
    assert all(r.status_code == 200 for r in fire_concurrently(sb, 20))
    sb.set_throttle(True)
    assert any(r.status_code == 403 for r in fire_concurrently(sb, 20))


def test_bucket_arithmetic():
    b = LeakyBucket(hwm=700, outflow=0.0, up_front=50)
    assert all(b.reserve() for _ in range(15))  # 14 in flight = 700, not over the mark yet
    assert not b.reserve()                      # 750 > 700
    b.settle(0.5)
    assert b.remaining() == 700 - (14 * 50 + 0.5)
    leaky = LeakyBucket(hwm=700, outflow=10.0, up_front=50)
    for _ in range(1000):  # one at a time: up front then refunded, real cost tiny
        assert leaky.reserve()
        leaky.settle(0.001)
    assert leaky.remaining() > 699
