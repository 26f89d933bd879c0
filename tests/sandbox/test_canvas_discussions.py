"""Sandbox Canvas discussions as the hub uses them: deletes, entry_list, edits, the write log."""
from __future__ import annotations

import requests

TIMEOUT = 5


def _session(sb) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.token}"
    return s


def test_deleted_entries_stay_listed_without_their_message_and_deleted_topics_vanish(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    s = _session(sb)
    base = f"{sb.api_url}/courses/{cid}/discussion_topics"
    topic = s.post(base, json={"title": "T", "message": "<p>m</p>"}, timeout=TIMEOUT).json()
    entry = s.post(f"{base}/{topic['id']}/entries", json={"message": "<p>e</p>"}, timeout=TIMEOUT).json()
    assert s.delete(f"{base}/{topic['id']}/entries/{entry['id']}", timeout=TIMEOUT).status_code == 204
    [listed] = s.get(f"{base}/{topic['id']}/entries", timeout=TIMEOUT).json()
    assert listed["id"] == entry["id"] and listed["deleted"] is True
    assert "message" not in listed and "user_id" not in listed
    edit = s.put(f"{base}/{topic['id']}/entries/{entry['id']}", json={"message": "x"}, timeout=TIMEOUT)
    assert edit.status_code == 404
    gone = s.delete(f"{base}/{topic['id']}", timeout=TIMEOUT)
    assert gone.status_code == 200 and gone.json()["id"] == topic["id"]
    assert s.get(f"{base}/{topic['id']}", timeout=TIMEOUT).status_code == 404
    assert topic["id"] not in {t["id"] for t in s.get(base, timeout=TIMEOUT).json()}
    assert [(e.method, e.status) for e in sb.writes()] == [("POST", 200), ("POST", 201), ("DELETE", 204),
                                                          ("PUT", 404), ("DELETE", 200)]


def test_an_edit_moves_updated_at_and_entry_list_finds_entries_by_id(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    topic = sb.create_topic(cid, "T", "<p>m</p>")
    first = sb.create_entry(topic["id"], "<p>one</p>")
    second = sb.create_entry(topic["id"], "<p>two</p>")
    first["updated_at"] = "2020-01-01T00:00:00Z"
    s = _session(sb)
    base = f"{sb.api_url}/courses/{cid}/discussion_topics/{topic['id']}"
    edited = s.put(f"{base}/entries/{first['id']}", data={"message": "<p>one, edited</p>"}, timeout=TIMEOUT).json()
    assert edited["updated_at"] > "2020-01-01T00:00:00Z" and edited["message"] == "<p>one, edited</p>"
    found = s.get(f"{base}/entry_list", params={"ids[]": [str(second["id"])]}, timeout=TIMEOUT).json()
    assert [e["id"] for e in found] == [second["id"]]
    assert sb.writes() == [e for e in sb.request_log if e.method == "PUT"]


def test_discussion_mutations_through_the_control_endpoint(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    control = f"{sb.base_url}/__sandbox__/mutate"
    made = requests.post(control, json={"op": "create_topic", "course_id": cid, "title": "Ctl", "message": "<p>c</p>"},
                         timeout=TIMEOUT).json()["result"]
    requests.post(control, json={"op": "update_topic", "topic_id": made["id"], "message": "<p>c2</p>"},
                  timeout=TIMEOUT)
    assert sb.data.topics[made["id"]]["message"] == "<p>c2</p>"
    assert sb.writes() == []  # the control endpoint is not the API: nothing in the request log
