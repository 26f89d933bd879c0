"""Link-header pagination: numbered pages and opaque bookmark pages."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from .helpers import follow_next, get, parse_link, session


def qs(url: str) -> dict:
    return parse_qs(urlsplit(url).query)


def test_numbered_pages_default_10_and_rels(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    r = get(sb, f"/courses/{cid}/assignments")
    assert len(r.json()) == 10
    links = parse_link(r.headers["Link"])
    assert list(links) == ["current", "next", "first", "last"]  # Canvas order, no prev on page 1
    assert qs(links["next"])["page"] == ["2"] and qs(links["next"])["per_page"] == ["10"]
    assert qs(links["last"])["page"] == ["2"]
    assert links["next"].startswith(sb.base_url + f"/api/v1/courses/{cid}/assignments?")
    r2 = get(sb, f"/courses/{cid}/assignments", params={"page": 2})
    assert len(r2.json()) == 2
    links2 = parse_link(r2.headers["Link"])
    assert list(links2) == ["current", "prev", "first", "last"]
    past = get(sb, f"/courses/{cid}/assignments", params={"page": 3})
    assert past.status_code == 200 and past.json() == []
    assert "next" not in parse_link(past.headers["Link"])


def test_per_page_is_clamped_to_100_silently(make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=1, assignments=130, students=1)
    cid = next(iter(sb.data.courses))
    r = get(sb, f"/courses/{cid}/assignments", params={"per_page": 500})
    assert r.status_code == 200 and len(r.json()) == 100
    links = parse_link(r.headers["Link"])
    assert qs(links["next"])["per_page"] == ["100"] and qs(links["last"])["page"] == ["2"]
    assert len(get(sb, f"/courses/{cid}/assignments", params={"per_page": 0}).json()) == 1


def test_links_keep_params_but_drop_access_token(canvas_sandbox):
    sb = canvas_sandbox
    r = get(sb, "/courses", params={"include[]": ["term", "total_scores"], "enrollment_state": "active",
                                    "per_page": 1, "access_token": sb.token})
    links = parse_link(r.headers["Link"])
    q = qs(links["next"])
    assert q["include[]"] == ["term", "total_scores"] and q["enrollment_state"] == ["active"]
    assert "access_token" not in q and sb.token not in r.headers["Link"]


@pytest.mark.parametrize("per_page", [1, 3, 10, 100])
def test_follow_next_reads_every_row_once_numbered(make_canvas_sandbox, per_page):
    sb = make_canvas_sandbox(courses=6, assignments=23, students=7)
    d = sb.data
    s = session(sb)
    p = {"per_page": per_page}
    rows, _ = follow_next(s, sb.api_url + "/courses", p)
    active = [c for c in sorted(d.enrolled) if d.enrollment_state(c) == "active"]
    assert [c["id"] for c in rows] == active
    cid = active[0]
    rows, _ = follow_next(s, f"{sb.api_url}/courses/{cid}/assignments", p)
    assert [a["id"] for a in rows] == [a["id"] for a in d.course_assignments(cid)]
    rows, _ = follow_next(s, f"{sb.api_url}/courses/{cid}/assignment_groups", p)
    assert [g["id"] for g in rows] == [g["id"] for g in d.course_groups(cid)]
    aid = d.course_assignments(cid)[0]["id"]
    rows, _ = follow_next(s, f"{sb.api_url}/courses/{cid}/assignments/{aid}/submissions", p)
    assert [x["user_id"] for x in rows] == [u["id"] for u in d.students]
    rows, _ = follow_next(s, f"{sb.api_url}/courses/{cid}/discussion_topics", p)
    assert sorted(t["id"] for t in rows) == sorted(t["id"] for t in d.course_topics(cid))


@pytest.mark.parametrize("per_page", [1, 7, 10, 100, 250])
@pytest.mark.parametrize("order", ["id", "graded_at"])
def test_follow_next_reads_every_row_once_bookmarked(make_canvas_sandbox, per_page, order):
    sb = make_canvas_sandbox(courses=2, assignments=15, students=9)
    cid = min(sb.data.enrolled)
    s = session(sb)
    rows, responses = follow_next(s, f"{sb.api_url}/courses/{cid}/students/submissions",
                                  {"student_ids[]": "all", "per_page": per_page, "order": order})
    expected = list(sb.data.iter_submissions(cid, published_only=True))
    ids = [x["id"] for x in rows]
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == {x["id"] for x in expected}
    if order == "id":
        assert ids == sorted(ids)
    else:
        keys = [(x["graded_at"] is None, x["graded_at"] or "") for x in rows]
        assert keys == sorted(keys)  # graded_at ascending, nulls last
    for r in responses:
        links = parse_link(r.headers["Link"])
        assert "last" not in links and "prev" not in links
        assert set(links) <= {"current", "next", "first"}
        assert qs(links["first"])["page"] == ["first"]
        if "next" in links:
            assert qs(links["next"])["page"][0].startswith("bookmark:")
    assert qs(parse_link(responses[0].headers["Link"])["current"])["page"] == ["first"]


def test_page_first_equals_no_page(canvas_sandbox):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    path = f"/courses/{cid}/students/submissions"
    a = get(sb, path, params={"student_ids[]": "all"})
    b = get(sb, path, params={"student_ids[]": "all", "page": "first"})
    assert a.json() == b.json() and len(a.json()) == 10


@pytest.mark.parametrize("page", ["bookmark:!!!notbase64", "bookmark:" + base64.urlsafe_b64encode(b"{}").decode(),
                                  "bookmark:" + base64.urlsafe_b64encode(b'["x"]').decode(), "2", "last",
                                  "bookmark:"])
def test_invalid_bookmark_is_404(canvas_sandbox, page):
    sb = canvas_sandbox
    cid = min(sb.data.enrolled)
    r = get(sb, f"/courses/{cid}/students/submissions", params={"student_ids[]": "all", "page": page})
    assert r.status_code == 404
    assert r.json() == {"errors": [{"message": "The specified resource does not exist."}]}


@pytest.mark.parametrize("page", ["0", "-1", "abc", "bookmark:WzEyM10"])
def test_invalid_page_number_is_404(canvas_sandbox, page):
    r = get(canvas_sandbox, "/courses", params={"page": page})
    assert r.status_code == 404


def test_planner_items_bookmarks(make_canvas_sandbox):
    sb = make_canvas_sandbox(courses=4, assignments=20, students=2)
    rows, responses = follow_next(session(sb), sb.api_url + "/planner/items", {"per_page": 7})
    d = sb.data
    expected = sorted(((a["_due_ts"], a["id"]) for c in d.enrolled if d.enrollment_state(c) == "active"
                       for a in d.course_assignments(c) if a["published"] and a["due_at"]))
    assert [x["plannable_id"] for x in rows] == [aid for _, aid in expected]
    assert all("last" not in parse_link(r.headers["Link"]) for r in responses)


def test_long_link_header_drops_low_priority_rels_but_keeps_next(canvas_sandbox):
    sb = canvas_sandbox
    course = sorted(sb.data.enrolled)[0]
    # Every query parameter is repeated in every link: a long one pushes the header past 6 KB.
    r = get(sb, f"/courses/{course}/assignments", params={"search_term": "x" * 2500, "per_page": 1})
    assert r.status_code == 200
    assert len(r.headers["Link"]) <= 6000
    assert set(r.links) == {"next", "last"}  # first, then current, were dropped
    short = get(sb, f"/courses/{course}/assignments", params={"per_page": 1})
    assert {"current", "next", "first", "last"} <= set(short.links)
