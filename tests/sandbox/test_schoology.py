"""The Schoology sandbox over real HTTP: OAuth really checked, paging, past sections, throttle, control."""
from __future__ import annotations

import time

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_PLAINTEXT, Client
from oauthlib.oauth1.rfc5849 import signature as oauthlib_signature
from requests_oauthlib import OAuth1

from sandbox.schoology import oauth
from sandbox.schoology.data import PAST_PERIOD_ID, SchoologyData


def signed(sb, secret=None, method="HMAC-SHA1", key=None):
    return OAuth1(key or sb.consumer_key, secret or sb.consumer_secret, signature_method=method, realm="Schoology API")


def get(sb, path, auth=None, **kwargs):
    return requests.get(sb.api_url + path, auth=auth or signed(sb), timeout=5, **kwargs)


# -- OAuth ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["HMAC-SHA1", SIGNATURE_PLAINTEXT])
def test_signed_request_is_accepted(schoology_sandbox, method):
    resp = get(schoology_sandbox, "/courses?start=0&limit=5", auth=signed(schoology_sandbox, method=method))
    assert resp.status_code == 200
    assert [c["id"] for c in resp.json()["course"]] == list(schoology_sandbox.data.courses)
    assert schoology_sandbox.request_log[-1].signature_method == method


def test_base_string_matches_oauthlib():
    """The hand-written RFC 5849 code and oauthlib agree on a URL with awkward characters."""
    uri = "http://127.0.0.1:5000/v1/sections/1/assignments?b=2&a=x%20y&a=%7Ez&c=%C3%A9"
    client = Client("key", "secret", realm="Schoology API", timestamp="1700000000", nonce="abc")
    _, headers, _ = client.sign(uri)
    params = oauthlib_signature.collect_parameters(uri_query=uri.split("?", 1)[1], headers=headers)
    theirs = oauthlib_signature.signature_base_string(
        "GET", oauthlib_signature.base_string_uri(uri), oauthlib_signature.normalize_parameters(params))
    header = oauth.parse_authorization(headers["Authorization"])
    uri_base = oauth.base_string_uri("http", "127.0.0.1:5000", "/v1/sections/1/assignments")
    ours = oauth.signature_base_string("GET", uri_base,
                                       [(k, v) for k, v in header.items() if k not in ("realm", "oauth_signature")]
                                       + [("b", "2"), ("a", "x y"), ("a", "~z"), ("c", "é")])
    assert ours == theirs
    assert oauth.hmac_sha1(ours, "secret") == header["oauth_signature"]


def test_wrong_secret_is_refused_with_oauth_php_words(schoology_sandbox):
    resp = get(schoology_sandbox, "/courses", auth=signed(schoology_sandbox, secret="not-the-secret"))
    assert resp.status_code == 401
    assert resp.text.startswith("Verification of signature failed (signature base string was")
    assert resp.headers["WWW-Authenticate"] == 'OAuth realm="Schoology API"'
    assert "not-the-secret" not in resp.text and schoology_sandbox.consumer_secret not in resp.text
    assert schoology_sandbox.request_log[-1].refusal.startswith("Verification of signature failed")


def test_plaintext_with_wrong_secret_is_refused(schoology_sandbox):
    resp = get(schoology_sandbox, "/courses", auth=signed(schoology_sandbox, secret="nope", method=SIGNATURE_PLAINTEXT))
    assert resp.status_code == 401


def test_replayed_nonce_unknown_key_tampering_and_stale_timestamps_are_refused(schoology_sandbox):
    sb = schoology_sandbox
    prepared = requests.Request("GET", sb.api_url + "/courses", auth=signed(sb)).prepare()
    with requests.Session() as s:
        assert s.send(prepared, timeout=5).status_code == 200
        replay = s.send(prepared, timeout=5)
        assert replay.status_code == 401
        assert replay.text == "Duplicate timestamp/nonce combination, possible replay attack.  Request rejected."

        tampered = requests.Request("GET", sb.api_url + "/courses?start=0", auth=signed(sb)).prepare()
        tampered.url = sb.api_url + "/courses?start=1"
        assert s.send(tampered, timeout=5).status_code == 401

        unknown = s.get(sb.api_url + "/courses", auth=signed(sb, key="someone-else"), timeout=5)
        assert unknown.status_code == 401 and "does not exist or is not enabled" in unknown.text

        stale = Client(sb.consumer_key, sb.consumer_secret, realm="Schoology API",
                       timestamp=str(int(time.time()) - 3600))
        _, headers, _ = stale.sign(sb.api_url + "/courses")
        old = s.get(sb.api_url + "/courses", headers=headers, timeout=5)
        assert old.status_code == 401 and old.text.startswith("Timestamp is out of sequence")

        missing = s.get(sb.api_url + "/courses", timeout=5)
        assert missing.status_code == 401


def test_users_me_redirects_and_the_same_signature_cannot_follow(schoology_sandbox):
    sb = schoology_sandbox
    resp = get(sb, "/users/me", allow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"{sb.api_url}/users/{sb.data.me['uid']}"
    # requests follows with the first request's header: Schoology calls that a replay
    followed = get(sb, "/users/me")
    assert followed.status_code == 401 and "Duplicate timestamp/nonce" in followed.text
    assert get(sb, f"/users/{sb.data.me['uid']}").json()["tz_name"] == "America/New_York"


# -- paging and data --------------------------------------------------------------------------

def test_start_limit_paging_follows_links_next_to_the_end(make_schoology_sandbox):
    sb = make_schoology_sandbox(assignments=7)
    sid = sb.data.section_ids()[0]
    url, seen, pages = f"{sb.api_url}/sections/{sid}/assignments?start=0&limit=3", [], 0
    while url:
        body = requests.get(url, auth=signed(sb), timeout=5).json()
        assert body["total"] == 7
        seen += [a["id"] for a in body["assignment"]]
        url, pages = body["links"].get("next"), pages + 1
    assert pages == 3
    assert seen == [a["id"] for a in sb.data.section_assignments(sid)]
    clamped = get(sb, f"/sections/{sid}/assignments?limit=5000").json()
    assert clamped["links"]["self"].endswith("start=0&limit=200") and "next" not in clamped["links"]


def test_sections_of_past_grading_periods_only_with_include_past(schoology_sandbox):
    sb = schoology_sandbox
    course_id = next(iter(sb.data.courses))
    active = get(sb, f"/courses/{course_id}/sections").json()
    with_past = get(sb, f"/courses/{course_id}/sections?include_past=1").json()
    assert active["total"] == "1" and with_past["total"] == "2"
    past = [s for s in with_past["section"] if s["id"] not in {a["id"] for a in active["section"]}]
    assert past[0]["grading_periods"] == [PAST_PERIOD_ID] and past[0]["active"] == 0
    assert "include_past=1" in with_past["links"]["self"]


def test_grades_carry_scores_and_revisions_the_submissions(schoology_sandbox):
    sb = schoology_sandbox
    (aid, eid), grade = next(iter(sb.data.grades.items()))
    sid = sb.data.assignments[aid]["_section_id"]
    body = get(sb, f"/sections/{sid}/grades?assignment_id={aid}").json()
    rows = body["grades"]["grade"]
    assert {(r["enrollment_id"], r["grade"]) for r in rows} == {
        (int(e), g["grade"]) for (a, e), g in sb.data.grades.items() if a == aid}
    revisions = get(sb, f"/sections/{sid}/submissions/{aid}").json()
    assert "total" not in revisions
    assert {r["uid"] for r in revisions["revision"]} == {int(u) for (a, u) in sb.data.revisions if a == aid}


def test_same_seed_and_anchor_give_the_same_school():
    first = SchoologyData(seed=4, anchor=1_767_225_600)
    second = SchoologyData(seed=4, anchor=1_767_225_600)
    assert first.assignments == second.assignments
    assert first.revisions == second.revisions and first.grades == second.grades
    assert SchoologyData(seed=5, anchor=1_767_225_600).revisions != first.revisions


# -- throttle ---------------------------------------------------------------------------------

def test_throttle_answers_429_over_the_limit_and_recovers(make_schoology_sandbox):
    sb = make_schoology_sandbox(throttle_limit=3, throttle_window_s=1.0)
    statuses = [get(sb, "/courses").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert sb.request_log[-1].throttled
    time.sleep(1.05)
    assert get(sb, "/courses").status_code == 200
    sb.set_throttle(limit=1, window_s=5, retry_after=True)
    get(sb, "/courses")
    refused = get(sb, "/courses")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 5


def test_the_real_limit_is_fifty_per_five_seconds(schoology_sandbox):
    statuses = [get(schoology_sandbox, "/gradingperiods").status_code for _ in range(51)]
    assert statuses.count(200) == 50 and statuses[-1] == 429


# -- control endpoint -------------------------------------------------------------------------

def test_control_endpoint_mutates_and_logs(schoology_sandbox):
    sb = schoology_sandbox
    control = sb.base_url + "/__sandbox__"
    sid = sb.data.section_ids()[0]
    aid = sb.data.section_assignments(sid)[0]["id"]
    student = sb.data.students[0]["uid"]
    ok = requests.post(control + "/mutate", json={"op": "delete_assignment", "assignment_id": aid}, timeout=5)
    assert ok.status_code == 200
    assert aid not in [a["id"] for a in get(sb, f"/sections/{sid}/assignments").json()["assignment"]]
    added = requests.post(control + "/mutate", json={"op": "add_assignment", "section_id": sid, "title": "Essay",
                                                     "due": "2030-01-02 08:00:00", "max_points": 50}, timeout=5)
    new_id = added.json()["result"]["id"]
    requests.post(control + "/mutate", json={"op": "update_assignment", "assignment_id": new_id, "title": "Long essay"},
                  timeout=5).raise_for_status()
    assert get(sb, f"/sections/{sid}/assignments/{new_id}").json()["title"] == "Long essay"
    requests.post(control + "/mutate", json={"op": "grade", "assignment_id": new_id, "uid": student, "grade": 42},
                  timeout=5).raise_for_status()
    grades = get(sb, f"/sections/{sid}/grades?assignment_id={new_id}").json()["grades"]["grade"]
    assert [g["grade"] for g in grades] == [42]
    bad = requests.post(control + "/mutate", json={"op": "grade", "assignment_id": 1, "uid": student, "grade": 1},
                        timeout=5)
    assert bad.status_code == 400 and "no assignment 1" in bad.json()["error"]
    log = requests.get(control + "/log", timeout=5).json()["entries"]
    assert [e["path"] for e in log][-1] == f"/v1/sections/{sid}/grades"
    requests.post(control + "/faults", json={"count": 1, "status": 503}, timeout=5).raise_for_status()
    assert get(sb, "/courses").status_code == 503
    assert get(sb, "/courses").status_code == 200
