"""Bearer auth and Canvas's exact error shapes."""
from __future__ import annotations

import requests

from .helpers import TIMEOUT, get

WWW = 'Bearer realm="canvas-lms"'
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
NOT_AUTHORIZED = {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}


def test_bearer_header_and_access_token_param(canvas_sandbox):
    sb = canvas_sandbox
    assert get(sb, "/users/self").json()["id"] == sb.data.self_user["id"]
    r = requests.get(sb.api_url + "/users/self", params={"access_token": sb.token}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["name"] == sb.data.self_user["name"]
    r = requests.get(sb.api_url + "/users/self", headers={"Authorization": f"bearer {sb.token}"}, timeout=TIMEOUT)
    assert r.status_code == 200


def test_invalid_token(canvas_sandbox):
    r = get(canvas_sandbox, "/courses", token="not-a-token")
    assert r.status_code == 401
    assert r.json() == {"errors": [{"message": "Invalid access token."}]}
    assert r.headers["WWW-Authenticate"] == WWW


def test_expired_token(canvas_sandbox):
    sb = canvas_sandbox
    r = get(sb, "/users/self", token=sb.expired_token)
    assert r.status_code == 401
    body = r.json()
    assert body["errors"][0]["message"] == "Expired access token."
    assert body == {"errors": [{"message": "Expired access token.", "expired_at": sb.expired_at}]}
    assert r.headers["WWW-Authenticate"] == WWW


def test_revoked_token(canvas_sandbox):
    sb = canvas_sandbox
    r = get(sb, "/users/self", token=sb.revoked_token)
    assert r.status_code == 401
    assert r.json() == {"errors": [{"message": "Revoked access token."}]}
    assert r.headers["WWW-Authenticate"] == WWW


def test_missing_token_has_no_www_authenticate(canvas_sandbox):
    r = requests.get(canvas_sandbox.api_url + "/users/self", timeout=TIMEOUT)
    assert r.status_code == 401
    assert r.json() == {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
    assert "WWW-Authenticate" not in r.headers


def test_not_enrolled_course_is_unauthorized(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    sb.unenroll(cid)
    for path in (f"/courses/{cid}", f"/courses/{cid}/assignments", f"/courses/{cid}/students/submissions"):
        r = get(sb, path, params={"student_ids[]": "all"})
        assert r.status_code == 401, path
        assert r.json() == NOT_AUTHORIZED
        assert "WWW-Authenticate" not in r.headers  # a permission problem, not a token problem


def test_not_authorized_status_403_on_newer_instances(make_canvas_sandbox):
    sb = make_canvas_sandbox(unauthorized_status=403)
    cid = min(sb.data.enrolled)
    sb.unenroll(cid)
    r = get(sb, f"/courses/{cid}")
    assert r.status_code == 403 and r.json() == NOT_AUTHORIZED


def test_not_found_shapes(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    other_course_assignment = next(a for a in sb.data.assignments.values() if a["course_id"] != cid)
    for path in ("/courses/999999", "/courses/abc", "/no/such/path", f"/courses/{cid}/assignments/999999",
                 f"/courses/{cid}/assignments/{other_course_assignment['id']}",
                 f"/courses/{cid}/discussion_topics/999999"):
        r = get(sb, path)
        assert r.status_code == 404, path
        assert r.json() == NOT_FOUND


def test_auth_failures_are_never_faulted(canvas_sandbox):
    sb = canvas_sandbox
    sb.set_faults(1.0, seed=3, kinds=["500", "drop", "malformed"])
    for _ in range(10):
        r = get(sb, "/courses", token="wrong")
        assert r.status_code == 401 and r.json() == {"errors": [{"message": "Invalid access token."}]}
    assert all(e.fault is None for e in sb.request_log)


def test_insufficient_scope_is_401_without_www_authenticate(canvas_sandbox):
    sb = canvas_sandbox
    assert get(sb, "/users/self", token=sb.scoped_token).status_code == 200
    r = get(sb, "/courses", token=sb.scoped_token)
    assert r.status_code == 401
    assert r.json() == {"errors": [{"message": "Insufficient scopes on access token."}]}
    assert "WWW-Authenticate" not in r.headers
