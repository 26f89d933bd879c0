"""Sandbox Discourse: the admin API throttle (429 + Retry-After + extras.wait_seconds) and faults."""
from __future__ import annotations

import time

import requests

from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 - fixture

TIMEOUT = 5


def get(sb, path="/latest.json"):
    return requests.get(sb.base_url + path, headers={"Api-Key": sb.api_key, "Api-Username": "system"},
                        timeout=TIMEOUT)


def test_throttle_refuses_over_the_limit_with_the_wait_and_recovers(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle_limit=3, throttle_window_s=1)
    assert [get(sb).status_code for _ in range(3)] == [200, 200, 200]
    refused = get(sb)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Discourse-Rate-Limit-Error-Code"] == "admin_api_key_rate_limit"
    body = refused.json()
    assert body["error_type"] == "rate_limit" and body["extras"]["wait_seconds"] == 1
    assert "Please wait a few seconds before trying again." in body["errors"][0]
    time.sleep(1.05)
    assert get(sb).status_code == 200
    assert [e.throttled for e in sb.request_log] == [False, False, False, True, False]


def test_real_default_is_sixty_a_minute(make_discourse_sandbox):
    sb = make_discourse_sandbox()
    assert (sb.throttle.limit, sb.throttle.window_s) == (60, 60.0)
    statuses = [get(sb).status_code for _ in range(61)]
    assert statuses.count(200) == 60 and statuses[-1] == 429
    assert 50 <= get(sb).json()["extras"]["wait_seconds"] <= 60


def test_anonymous_requests_are_not_charged_to_the_key(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle_limit=1, throttle_window_s=5)
    assert get(sb).status_code == 200
    assert requests.get(sb.base_url + "/latest.json", timeout=TIMEOUT).status_code == 200
    assert get(sb).status_code == 429


def test_faults_are_deterministic_and_logged(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle=False)
    sb.set_faults(0.5, seed=3, kinds=["500", "drop"])
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append(get(sb).status_code)
        except requests.ConnectionError:
            outcomes.append(None)
    assert 200 in outcomes and 500 in outcomes and None in outcomes
    assert [e.status for e in sb.request_log] == outcomes
    sb.set_faults(0.5, seed=3, kinds=["500", "drop"])
    again = []
    for _ in range(20):
        try:
            again.append(get(sb).status_code)
        except requests.ConnectionError:
            again.append(None)
    assert again == outcomes


def test_faults_can_target_one_method(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle=False)
    sb.set_faults(1.0, kinds=["503"], methods=["PUT"])
    assert get(sb).status_code == 200
    r = requests.put(sb.base_url + "/posts/2.json", json={"post": {"raw": "An edit long enough to pass."}},
                     headers={"Api-Key": sb.api_key, "Api-Username": "system"}, timeout=TIMEOUT)
    assert r.status_code == 503


def test_lost_fault_does_the_write_but_drops_the_answer(make_discourse_sandbox):
    sb = make_discourse_sandbox(throttle=False)
    sb.set_faults(1.0, kinds=["lost"], methods=["POST"])
    before = len(sb.forum.posts)
    try:
        requests.post(sb.base_url + "/posts.json", json={"topic_id": 1, "raw": "Written, answer lost on the way."},
                      headers={"Api-Key": sb.api_key, "Api-Username": "system"}, timeout=TIMEOUT)
        raise AssertionError("the answer should have been lost")
    except requests.ConnectionError:
        pass
    assert len(sb.forum.posts) == before + 1
    assert sb.request_log[-1].fault == "lost"


def test_down_then_back_on_the_same_port_with_the_same_data(make_discourse_sandbox):
    sb = make_discourse_sandbox()
    url = sb.base_url
    sb.stop()
    try:
        get(sb)
        raise AssertionError("a stopped sandbox must refuse connections")
    except requests.ConnectionError:
        pass
    sb.start()
    assert sb.base_url == url and get(sb, "/t/1.json").json()["id"] == 1
