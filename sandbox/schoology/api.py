"""The `/v1` routes: JSON shapes, `start`/`limit` paging with `total` and `links.next`.

Paging (Schoology REST v1 docs, Ed-Fi LMS Toolkit's extractor): `start` (offset, default 0)
and `limit` (default 20; a larger one is clamped to 200, a limit believed but unconfirmed);
each list answers `{"<resource>": [...], "total": N, "links": {"self": url, "next": url}}`
with absolute URLs and `next` only while more remain. `total` is a string on some
endpoints ("2", sections/courses/enrollments) and a number on others (assignments), as
the docs' samples show. Revision lists carry no `total`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from .data import SchoologyData

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@dataclass
class ApiResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(payload, status: int = 200) -> ApiResponse:
    return ApiResponse(status, json.dumps(payload, separators=(",", ":")).encode())


def text_response(status: int, message: str) -> ApiResponse:
    return ApiResponse(status, message.encode(), "text/plain; charset=utf-8")


def not_found() -> ApiResponse:
    return text_response(404, "Not Found")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


class SchoologyApi:
    ROUTES = [
        (re.compile(r"^users/me$"), "me"),
        (re.compile(r"^users/(\d+)$"), "user"),
        (re.compile(r"^gradingperiods$"), "grading_periods"),
        (re.compile(r"^courses$"), "courses"),
        (re.compile(r"^courses/(\d+)/sections$"), "sections"),
        (re.compile(r"^sections/(\d+)$"), "section"),
        (re.compile(r"^sections/(\d+)/enrollments$"), "enrollments"),
        (re.compile(r"^sections/(\d+)/assignments$"), "assignments"),
        (re.compile(r"^sections/(\d+)/assignments/(\d+)$"), "assignment"),
        (re.compile(r"^sections/(\d+)/grades$"), "grades"),
        (re.compile(r"^sections/(\d+)/submissions/(\d+)/?$"), "submissions"),
    ]

    def __init__(self, data: SchoologyData):
        self.data = data
        self.links_host: str | None = None  # another host for `links` URLs (tests a client's caution)

    def handle(self, method: str, path: str, query: str, host: str) -> ApiResponse:
        if method != "GET":
            return text_response(405, "Method Not Allowed")  # the sandbox is read-only over /v1
        rel = path[len("/v1/"):].rstrip("/") if path.startswith("/v1/") else ""
        params = dict(parse_qsl(query, keep_blank_values=True))
        for pattern, name in self.ROUTES:
            m = pattern.match(rel)
            if m:
                with self.data.lock:
                    url = f"http://{self.links_host or host}/v1/{rel}"
                    return getattr(self, "_" + name)(params, url, *m.groups())
        return not_found()

    # ------------------------------------------------------------------ paging
    @staticmethod
    def _page(key: str, rows: list, params: dict, url: str, total_as_string: bool = False,
              with_total: bool = True, extra: dict | None = None) -> ApiResponse:
        start = max(0, _int(params.get("start"), 0))
        limit = min(MAX_LIMIT, max(1, _int(params.get("limit"), DEFAULT_LIMIT)))
        keep = [(k, v) for k, v in params.items() if k not in ("start", "limit")]

        def link(offset: int) -> str:
            return url + "?" + urlencode(keep + [("start", offset), ("limit", limit)])

        payload: dict = {key: rows[start:start + limit]} if extra is None else {**extra}
        if extra is not None:
            payload[key] = {"grade": rows[start:start + limit]}
        if with_total:
            payload["total"] = str(len(rows)) if total_as_string else len(rows)
        payload["links"] = {"self": link(start)}
        if start + limit < len(rows):
            payload["links"]["next"] = link(start + limit)
        return json_response(payload)

    # ------------------------------------------------------------------ routes
    def _me(self, params, url):
        # Schoology answers users/me with a 303 to the user's own URL; a client that
        # follows it with the same OAuth header is refused as a replay.
        return ApiResponse(303, b"", "text/html; charset=utf-8",
                           [("Location", url.rsplit("/", 1)[0] + "/" + self.data.me["uid"])])

    def _user(self, params, url, uid):
        user = self.data.users.get(uid)
        return json_response(user) if user else not_found()

    def _grading_periods(self, params, url):
        rows = [dict(p) for p in self.data.grading_periods.values()]
        return self._page("gradingperiods", rows, params, url)

    def _courses(self, params, url):
        rows = [dict(c) for c in self.data.courses.values()]
        return self._page("course", rows, params, url, total_as_string=True)

    def _sections(self, params, url, course_id):
        if int(course_id) not in self.data.courses:
            return not_found()
        include_past = params.get("include_past") == "1"
        rows = [self._section_json(s, url) for s in self.data.course_sections(int(course_id), include_past)]
        return self._page("section", rows, params, url, total_as_string=True)

    def _section(self, params, url, sid):
        section = self.data.sections.get(sid)
        return json_response(self._section_json(section, url)) if section else not_found()

    def _section_json(self, section: dict, url: str) -> dict:
        out = self.data.public(section)
        out["links"] = {"self": url.split("/v1/")[0] + f"/v1/sections/{section['id']}"}
        return out

    def _enrollments(self, params, url, sid):
        if sid not in self.data.sections:
            return not_found()
        rows = [dict(e) for e in self.data.enrollments[sid]]
        return self._page("enrollment", rows, params, url, total_as_string=True)

    def _assignments(self, params, url, sid):
        if sid not in self.data.sections:
            return not_found()
        rows = [self._assignment_json(a, url) for a in self.data.section_assignments(sid)]
        return self._page("assignment", rows, params, url)

    def _assignment(self, params, url, sid, aid):
        a = self.data.assignments.get(int(aid))
        if a is None or a["_section_id"] != sid:
            return not_found()
        return json_response(self._assignment_json(a, url.rsplit("/", 1)[0]))

    def _assignment_json(self, assignment: dict, list_url: str) -> dict:
        out = self.data.public(assignment)
        out["links"] = {"self": f"{list_url}/{assignment['id']}"}
        return out

    def _grades(self, params, url, sid):
        if sid not in self.data.sections:
            return not_found()
        rows = [dict(g) for g in self.data.section_grades(sid)]
        if params.get("assignment_id"):
            rows = [g for g in rows if str(g["assignment_id"]) == params["assignment_id"]]
        if params.get("enrollment_id"):
            rows = [g for g in rows if str(g["enrollment_id"]) == params["enrollment_id"]]
        periods = [{"period_id": f"p{p}", "period_title": self.data.grading_periods[p]["title"], "weight": "100.00"}
                   for p in self.data.sections[sid]["grading_periods"]]
        return self._page("grades", rows, params, url, extra={"period": periods, "final_grade": []})

    def _submissions(self, params, url, sid, grade_item_id):
        a = self.data.assignments.get(int(grade_item_id))
        if sid not in self.data.sections or a is None or a["_section_id"] != sid:
            return not_found()
        rows = [dict(r) for r in self.data.assignment_revisions(a["id"])]
        return self._page("revision", rows, params, url.rstrip("/"), with_total=False)
