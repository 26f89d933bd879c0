"""Fault injection: every kind, deterministic for a seed, never on the control endpoint."""
from __future__ import annotations

import pytest
import requests

from .helpers import TIMEOUT, get


def test_error_statuses(canvas_sandbox):
    sb = canvas_sandbox
    for status in (500, 502, 503, 504):
        sb.set_faults(1.0, seed=1, kinds=[str(status)])
        r = get(sb, "/courses")
        assert r.status_code == status
    assert [e.fault for e in sb.request_log] == ["500", "502", "503", "504"]
    assert [e.status for e in sb.request_log] == [500, 502, 503, 504]


def test_slow_response_beyond_client_timeout(canvas_sandbox):
    sb = canvas_sandbox
    sb.set_faults(1.0, seed=1, kinds=["slow"], slow_s=1.5)
    with pytest.raises(requests.Timeout):
        get(sb, "/courses", timeout=0.3)
    sb.set_faults(0.0)
    assert get(sb, "/courses").status_code == 200


def test_dropped_connection(canvas_sandbox):
    sb = canvas_sandbox
    sb.set_faults(1.0, seed=1, kinds=["drop"])
    with pytest.raises(requests.ConnectionError):
        get(sb, "/courses")
    assert sb.request_log[-1].fault == "drop" and sb.request_log[-1].status is None


def test_truncated_body(canvas_sandbox):
    sb = canvas_sandbox
    sb.set_faults(1.0, seed=1, kinds=["truncated"])
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        get(sb, "/courses")
    assert sb.request_log[-1].fault == "truncated"


def test_malformed_json(canvas_sandbox):
    sb = canvas_sandbox
    sb.set_faults(1.0, seed=1, kinds=["malformed"])
    r = get(sb, "/courses")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_throttle_out_of_turn(canvas_sandbox):
    sb = canvas_sandbox
    sb.set_faults(1.0, seed=1, kinds=["throttle"])
    r = get(sb, "/courses")
    assert r.status_code == 403 and r.text == "403 Forbidden (Rate Limit Exceeded)"
    assert r.headers["X-Rate-Limit-Remaining"] == "0.0"


def run_sequence(sb, n=60):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.token}"
    out = []
    for _ in range(n):
        try:
            r = s.get(sb.api_url + "/users/self", timeout=TIMEOUT)
            out.append(r.status_code)
        except requests.RequestException:
            out.append("error")
            s.close()
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {sb.token}"
    return out, [e.fault for e in sb.request_log]


def test_faults_are_deterministic_for_a_seed(make_canvas_sandbox):
    kinds = ["500", "502", "503", "504", "drop", "truncated", "malformed", "throttle"]
    a = make_canvas_sandbox(faults=0.3, fault_seed=11, fault_kinds=kinds)
    b = make_canvas_sandbox(faults=0.3, fault_seed=11, fault_kinds=kinds)
    c = make_canvas_sandbox(faults=0.3, fault_seed=12, fault_kinds=kinds)
    seq_a, faults_a = run_sequence(a)
    seq_b, faults_b = run_sequence(b)
    _, faults_c = run_sequence(c)
    assert faults_a == faults_b and seq_a == seq_b
    assert faults_a != faults_c
    hits = sum(f is not None for f in faults_a)
    assert 6 <= hits <= 35  # about 30 % of 60


def test_control_endpoint_is_never_faulted(canvas_sandbox):
    sb = canvas_sandbox
    sb.set_faults(1.0, seed=1, kinds=["500", "drop"])
    for _ in range(5):
        r = requests.get(sb.base_url + "/__sandbox__/health", timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["status"] == "ok"
    r = requests.post(sb.base_url + "/__sandbox__/faults", json={"rate": 0}, timeout=TIMEOUT)
    assert r.json()["rate"] == 0
    assert get(sb, "/courses").status_code == 200


def test_fault_rate_validation(canvas_sandbox):
    with pytest.raises(ValueError):
        canvas_sandbox.set_faults(1.5)
    with pytest.raises(ValueError):
        canvas_sandbox.set_faults(0.5, kinds=["teapot"])


def test_faults_limited_to_a_path_prefix(canvas_sandbox):
    sb = canvas_sandbox
    first, second = sorted(sb.data.enrolled)[:2]
    sb.set_faults(1.0, seed=1, kinds=["500"], path_prefix=f"/api/v1/courses/{first}/")
    assert get(sb, f"/courses/{first}/assignment_groups").status_code == 500
    assert get(sb, f"/courses/{second}/assignment_groups").status_code == 200
    assert get(sb, "/courses").status_code == 200
