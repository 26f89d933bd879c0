"""Canvas REST endpoints under ``/api/v1``: routing and request handling (no HTTP plumbing).

Behaviour follows canvas-lms where the source was checked (see the README section of
``sandbox/canvas/__init__.py``): ``students/submissions`` mirrors
``SubmissionsApiController#for_students`` (published assignments only, ``submitted_since``
and ``graded_since`` both applied with a strict ``>``, explicit student lists checked for
access before the 100-id limit, bookmark pages for ascending ``order=id|graded_at``).
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from . import clock
from .data import SELF_USER_ID, STATE_NAMES, STUDENT_ID_BASE, CanvasData, SandboxError
from .errors import ApiError, bad_request, not_found, unauthorized
from .pagination import (MAX_PER_PAGE, Query, bookmark_links, decode_bookmark, encode_bookmark,
                         paginate_numbered, per_page, ruby_to_i)
from .shapes import (assignment_json, course_json, entry_json, group_json, self_json, topic_json,
                     user_json)

JSON_TYPE = "application/json; charset=utf-8"
VALID_BUCKETS = ("past", "overdue", "undated", "ungraded", "unsubmitted", "upcoming", "future")


@dataclass
class ApiRequest:
    method: str
    path: str
    query: Query
    headers: dict  # lower-case names
    body: bytes = b""
    base_url: str = "http://127.0.0.1"

    def params(self) -> dict:
        """Body parameters, JSON or form-encoded (Rails accepts both); query parameters as fallback."""
        out = {k: v for k, v in self.query.pairs}
        if not self.body:
            return out
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            try:
                payload = json.loads(self.body)
            except ValueError:
                raise bad_request({"errors": [{"message": "Invalid JSON body"}]}) from None
            if isinstance(payload, dict):
                out.update(payload)
        else:
            out.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return out


@dataclass
class ApiResponse:
    status: int = 200
    payload: object = None
    body: bytes | None = None
    content_type: str = JSON_TYPE
    headers: list = field(default_factory=list)
    rows: int = 0

    def render(self) -> bytes:
        if self.body is None:
            self.body = b"" if self.payload is None and self.status == 304 else json.dumps(
                self.payload, separators=(",", ":")).encode()
        return self.body


def _int_id(raw: str) -> int:
    if not raw.isdigit():
        raise not_found()
    return int(raw)


def _truthy(value) -> bool:
    return str(value).lower() in ("1", "true", "t", "yes", "on")


class CanvasApi:
    """The route table and handlers. ``unauthorized_status`` is 401 (older instances) or 403."""

    def __init__(self, data: CanvasData, unauthorized_status: int = 401):
        self.data = data
        self.unauthorized_status = unauthorized_status
        c = r"/api/v1/courses/(?P<cid>[^/]+)"
        self.routes = [
            ("GET", r"/api/v1/users/self", self.users_self),
            ("GET", r"/api/v1/users/(?P<uid>[^/]+)", self.user_show),
            ("GET", r"/api/v1/courses", self.courses_index),
            ("GET", c, self.course_show),
            ("GET", c + r"/assignment_groups", self.groups_index),
            ("GET", c + r"/assignments", self.assignments_index),
            ("GET", c + r"/assignments/(?P<aid>[^/]+)", self.assignment_show),
            ("GET", c + r"/assignments/(?P<aid>[^/]+)/submissions", self.assignment_submissions),
            ("GET", c + r"/assignments/(?P<aid>[^/]+)/submissions/(?P<uid>[^/]+)", self.submission_show),
            ("GET", c + r"/students/submissions", self.student_submissions),
            ("GET", c + r"/discussion_topics", self.topics_index),
            ("POST", c + r"/discussion_topics", self.topic_create),
            ("GET", c + r"/discussion_topics/(?P<tid>[^/]+)", self.topic_show),
            ("PUT", c + r"/discussion_topics/(?P<tid>[^/]+)", self.topic_update),
            ("GET", c + r"/discussion_topics/(?P<tid>[^/]+)/entries", self.entries_index),
            ("POST", c + r"/discussion_topics/(?P<tid>[^/]+)/entries", self.entry_create),
            ("PUT", c + r"/discussion_topics/(?P<tid>[^/]+)/entries/(?P<eid>[^/]+)", self.entry_update),
            ("GET", r"/api/v1/planner/items", self.planner_items),
        ]
        self.routes = [(m, re.compile(p + r"/?$"), h) for m, p, h in self.routes]

    # ------------------------------------------------------------------ dispatch
    def handle(self, req: ApiRequest) -> ApiResponse:
        for method, pattern, handler in self.routes:
            if method != req.method:
                continue
            m = pattern.match(req.path)
            if m:
                try:
                    return handler(req, **m.groupdict())
                except SandboxError:
                    raise not_found() from None
        raise not_found()

    # ------------------------------------------------------------------ helpers
    def _course(self, cid_raw: str, write: bool = False) -> dict:
        cid = _int_id(cid_raw)
        course = self.data.courses.get(cid)
        if course is None:
            raise not_found()
        if cid not in self.data.enrolled:
            raise unauthorized(self.unauthorized_status)
        if write and self.data.enrollment_state(cid) == "completed":
            raise unauthorized(self.unauthorized_status)  # a concluded course is read-only
        return course

    def _assignment(self, course: dict, aid_raw: str) -> dict:
        a = self.data.assignments.get(_int_id(aid_raw))
        if a is None or a["course_id"] != course["id"]:
            raise not_found()
        return a

    def _topic(self, course: dict, tid_raw: str) -> dict:
        t = self.data.topics.get(_int_id(tid_raw))
        if t is None or t["course_id"] != course["id"]:
            raise not_found()
        return t

    def _includes(self, req: ApiRequest) -> set[str]:
        return set(req.query.getlist("include"))

    def _numbered(self, req: ApiRequest, items: list, render) -> ApiResponse:
        chunk, link = paginate_numbered(items, req.query, req.base_url, req.path.rstrip("/"))
        return ApiResponse(payload=[render(x) for x in chunk], headers=[("Link", link)], rows=len(chunk))

    # ------------------------------------------------------------------ users
    def users_self(self, req):
        return ApiResponse(payload=self_json(self.data), rows=1)

    def user_show(self, req, uid):
        if uid == "self" or (uid.isdigit() and int(uid) == SELF_USER_ID):
            return self.users_self(req)
        _int_id(uid)
        idx = self.data.student_index(int(uid))
        if idx is None:
            raise not_found()
        raise unauthorized(self.unauthorized_status)

    # ------------------------------------------------------------------ courses
    def courses_index(self, req):
        d = self.data
        state = req.query.get("enrollment_state")
        includes = self._includes(req)
        with d.lock:
            courses = [d.courses[c] for c in sorted(d.enrolled)]
            if state == "completed":
                courses = [c for c in courses if d.enrollment_state(c["id"]) == "completed"]
            elif state == "invited_or_pending":
                courses = []
            else:  # "active", or the default (current and invited enrollments)
                courses = [c for c in courses if d.enrollment_state(c["id"]) == "active"]
            return self._numbered(req, courses, lambda c: course_json(d, c, includes, req.base_url))

    def course_show(self, req, cid):
        with self.data.lock:
            course = self._course(cid)
            return ApiResponse(payload=course_json(self.data, course, self._includes(req), req.base_url), rows=1)

    def groups_index(self, req, cid):
        d = self.data
        with d.lock:
            course = self._course(cid)
            includes = self._includes(req)
            by_group: dict[int, list] = {}
            if "assignments" in includes:
                for a in d.course_assignments(course["id"]):
                    by_group.setdefault(a["assignment_group_id"], []).append(a)

            def render(g):
                out = group_json(g)
                if "assignments" in includes:
                    out["assignments"] = [assignment_json(d, a, req.base_url) for a in by_group.get(g["id"], [])]
                return out

            return self._numbered(req, d.course_groups(course["id"]), render)

    def assignments_index(self, req, cid):
        d = self.data
        q = req.query
        with d.lock:
            course = self._course(cid)
            order_by = q.get("order_by") or "position"
            items = d.course_assignments(course["id"], order_by if order_by in ("position", "name", "due_at")
                                         else "position")
            ids = {ruby_to_i(x, 0) for x in q.getlist("assignment_ids")}
            if ids:
                items = [a for a in items if a["id"] in ids]
            bucket = q.get("bucket")
            if bucket:
                if bucket not in VALID_BUCKETS:
                    raise bad_request({"errors": [{"message": "bucket name must be one of the following: "
                                                   + ", ".join(VALID_BUCKETS)}]})
                items = self._bucket(items, bucket)
            return self._numbered(req, items, lambda a: assignment_json(d, a, req.base_url))

    def _bucket(self, items: list, bucket: str) -> list:
        now = clock.now()
        week = now + 7 * clock.DAY
        if bucket == "past":
            return [a for a in items if a["_due_ts"] is not None and a["_due_ts"] < now]
        if bucket == "undated":
            return [a for a in items if a["_due_ts"] is None]
        if bucket == "upcoming":
            return [a for a in items if a["_due_ts"] is not None and now <= a["_due_ts"] <= week]
        if bucket == "future":
            return [a for a in items if a["_due_ts"] is None or a["_due_ts"] >= now]
        if bucket == "ungraded":
            return [a for a in items if self.data.needs_grading_count(a["id"]) > 0]
        return []  # overdue / unsubmitted are about the caller's own submissions: a teacher has none

    def assignment_show(self, req, cid, aid):
        with self.data.lock:
            a = self._assignment(self._course(cid), aid)
            return ApiResponse(payload=assignment_json(self.data, a, req.base_url), rows=1)

    # ------------------------------------------------------------------ submissions
    def _render_submission(self, req, includes, cid, subs, r):
        d = self.data
        out = d.submission_row(cid, r, subs)
        if "assignment" in includes:
            out["assignment"] = assignment_json(d, d.assignments[out["assignment_id"]], req.base_url)
        if "user" in includes:
            out["user"] = user_json(d.students[out["user_id"] - STUDENT_ID_BASE])
        return out

    def assignment_submissions(self, req, cid, aid):
        d = self.data
        with d.lock:
            course = self._course(cid)
            a = self._assignment(course, aid)
            subs = d._course_subs(course["id"])
            start = subs.apos[a["id"]] * subs.n_students
            rows = list(range(start, start + subs.n_students))  # ordered by user_id
            includes = self._includes(req)
            return self._numbered(req, rows, lambda r: self._render_submission(req, includes, course["id"], subs, r))

    def submission_show(self, req, cid, aid, uid):
        d = self.data
        with d.lock:
            course = self._course(cid)
            a = self._assignment(course, aid)
            idx = d.student_index(_int_id(uid))
            if idx is None:
                raise not_found()
            subs = d._course_subs(course["id"])
            return ApiResponse(payload=self._render_submission(req, self._includes(req), course["id"], subs,
                                                               subs.row_of(a["id"], idx)), rows=1)

    def student_submissions(self, req, cid):
        d = self.data
        q = req.query
        with d.lock:
            course = self._course(cid)
            course_id = course["id"]
            # -- who (SubmissionsApiController#for_students)
            if q.has("student_ids"):
                bracketed = [v for k, v in q.pairs if k == "student_ids[]"]
                raw = bracketed if bracketed else [q.get("student_ids")]
                want_all = ("all" in raw) if bracketed else ("all" in (raw[0] or ""))
            else:
                raw, want_all = [], False
            student_filter = None
            if not want_all:
                ids = [int(x) for x in raw if x is not None and x.strip().isdigit()]
                if not ids:
                    ids = [SELF_USER_ID]  # the caller's own, and a teacher is no student here
                visible = {s["id"] for s in d.students}
                if any(i not in visible for i in ids):
                    raise unauthorized(self.unauthorized_status)
                if len(ids) > MAX_PER_PAGE:
                    raise ApiError(400, {"error": "too many students"})
                student_filter = sorted({i - STUDENT_ID_BASE for i in ids})
            # -- which assignments: published ones only
            published = {a["id"] for a in d.course_assignments(course_id) if a["published"]}
            requested = [ruby_to_i(x, 0) for x in q.getlist("assignment_ids")]
            if requested:
                if set(requested) - published:
                    raise ApiError(403, {"error": "invalid assignment ids requested"})
                allowed = set(requested)
            else:
                allowed = published
            # -- time filters
            since = {}
            for name in ("submitted_since", "graded_since"):
                value = q.get(name)
                if value:
                    ts = clock.parse_iso8601(value)
                    if ts is None:
                        raise bad_request({"errors": {name: f"Invalid datetime for {name}"}})
                    since[name] = ts
            workflow_state = q.get("workflow_state") or None
            if workflow_state is not None and workflow_state not in STATE_NAMES:
                workflow_state = "__none__"
            order = "graded_at" if q.get("order") == "graded_at" else "id"
            descending = q.get("order_direction") == "descending"
            includes = self._includes(req)
            subs = d._course_subs(course_id)
            match = self._row_filter(subs, allowed, since, workflow_state)
            render = lambda r: self._render_submission(req, includes, course_id, subs, r)  # noqa: E731
            path = req.path.rstrip("/")
            if descending:  # not bookmarked in Canvas: plain numbered pages
                rows = [r for r in self._rows_in_order(subs, "id", None, student_filter) if match(r)]
                if order == "id":
                    rows.reverse()
                else:  # "graded_at desc nulls last"
                    rows.sort(key=lambda r: (0, -subs.graded_at[r], -r) if subs.graded_at[r] else (1, 0, -r))
                return self._numbered(req, rows, render)
            n = per_page(q)
            page = q.get("page")
            after = decode_bookmark(page)
            if after is not None:
                after = self._check_bookmark(after, order)
            rows = []
            for r in self._rows_in_order(subs, order, after, student_filter):
                if match(r):
                    rows.append(r)
                    if len(rows) > n:
                        break
            has_next = len(rows) > n
            rows = rows[:n]
            next_bm = None
            if has_next:
                last = rows[-1]
                key = [subs.row_id(last)] if order == "id" else [subs.graded_at[last] or None, subs.row_id(last)]
                next_bm = encode_bookmark(key)
            current = page if page not in (None, "") else "first"
            link = bookmark_links(req.base_url, path, q, current, next_bm, n)
            return ApiResponse(payload=[render(r) for r in rows], headers=[("Link", link)], rows=len(rows))

    @staticmethod
    def _check_bookmark(value: list, order: str) -> list:
        if order == "id":
            if len(value) == 1 and isinstance(value[0], int) and not isinstance(value[0], bool):
                return value
        elif (len(value) == 2 and (value[0] is None or isinstance(value[0], (int, float)))
              and isinstance(value[1], int) and not isinstance(value[1], bool)):
            return value
        raise not_found()

    def _row_filter(self, subs, allowed: set, since: dict, workflow_state):
        n = subs.n_students
        aids = subs.assignment_ids
        sub_since = since.get("submitted_since")
        grd_since = since.get("graded_since")
        sub_at, graded_at, state = subs.submitted_at, subs.graded_at, subs.state

        def match(r: int) -> bool:
            if aids[r // n] not in allowed:
                return False
            if sub_since is not None and not (sub_at[r] and sub_at[r] > sub_since):
                return False
            if grd_since is not None and not (graded_at[r] and graded_at[r] > grd_since):
                return False
            if workflow_state is not None and STATE_NAMES[state[r]] != workflow_state:
                return False
            return True

        return match

    @staticmethod
    def _rows_in_order(subs, order: str, after, student_filter):
        """Row indexes after the bookmark, in id or (graded_at, id) order, for the chosen students."""
        n = subs.n_students
        if n == 0:
            return
        if order == "id":
            start = 0
            if after is not None:
                a_pos = bisect.bisect_right(subs.sub_base, after[0]) - 1
                if a_pos >= 0:
                    s_idx = after[0] - subs.sub_base[a_pos]
                    start = a_pos * n + min(s_idx + 1, n)
            total = subs.rows()
            a_pos = start // n
            first_s = start % n
            while a_pos * n < total:
                if student_filter is None:
                    yield from range(a_pos * n + first_s, a_pos * n + n)
                else:
                    base = a_pos * n
                    for s in student_filter[bisect.bisect_left(student_filter, first_s):]:
                        yield base + s
                a_pos += 1
                first_s = 0
        else:
            order_rows, keys = subs.graded_order()
            start = 0
            if after is not None:
                g = math.inf if after[0] is None else float(after[0])
                start = bisect.bisect_right(keys, (g, after[1]))
            wanted = None if student_filter is None else set(student_filter)
            for i in range(start, len(order_rows)):
                r = order_rows[i]
                if wanted is None or r % n in wanted:
                    yield r

    # ------------------------------------------------------------------ discussions
    def topics_index(self, req, cid):
        d = self.data
        with d.lock:
            course = self._course(cid)
            topics = sorted(d.course_topics(course["id"]),
                            key=lambda t: (not t["pinned"], -(clock.parse_iso8601(t["last_reply_at"] or t["posted_at"]
                                                                                  or t["created_at"]) or 0), -t["id"]))
            return self._numbered(req, topics, lambda t: topic_json(d, t, req.base_url))

    def topic_show(self, req, cid, tid):
        with self.data.lock:
            t = self._topic(self._course(cid), tid)
            return ApiResponse(payload=topic_json(self.data, t, req.base_url), rows=1)

    def topic_create(self, req, cid):
        d = self.data
        p = req.params()
        with d.lock:
            course = self._course(cid, write=True)
            title = str(p.get("title") or "No Title")
            t = d.create_topic(course["id"], title, str(p.get("message") or ""),
                               published=_truthy(p.get("published", "true")))
            if "pinned" in p:
                t["pinned"] = _truthy(p["pinned"])
            return ApiResponse(payload=topic_json(d, t, req.base_url), rows=1)

    def topic_update(self, req, cid, tid):
        d = self.data
        p = req.params()
        with d.lock:
            t = self._topic(self._course(cid, write=True), tid)
            fields = {}
            for key in ("title", "message"):
                if key in p:
                    fields[key] = str(p[key])
            for key in ("published", "pinned", "locked", "require_initial_post"):
                if key in p:
                    fields[key] = _truthy(p[key])
            d.update_topic(t["id"], **fields)
            return ApiResponse(payload=topic_json(d, t, req.base_url), rows=1)

    def entries_index(self, req, cid, tid):
        d = self.data
        with d.lock:
            course = self._course(cid)
            t = self._topic(course, tid)
            entries = sorted((e for e in d.topic_entries(t["id"]) if e["parent_id"] is None),
                             key=lambda e: -e["id"])  # newest first
            return self._numbered(req, entries, lambda e: entry_json(d, e, req.base_url, course["id"]))

    def entry_create(self, req, cid, tid):
        d = self.data
        p = req.params()
        with d.lock:
            course = self._course(cid, write=True)
            t = self._topic(course, tid)
            if t["locked"]:
                raise unauthorized(self.unauthorized_status)
            message = p.get("message")
            if message is None or str(message) == "":
                raise bad_request({"errors": {"message": [{"attribute": "message", "type": "blank",
                                                           "message": "blank"}]}})
            e = d.create_entry(t["id"], str(message))
            return ApiResponse(status=201, payload=entry_json(d, e, req.base_url, course["id"]), rows=1)

    def entry_update(self, req, cid, tid, eid):
        d = self.data
        p = req.params()
        with d.lock:
            course = self._course(cid, write=True)
            t = self._topic(course, tid)
            e = d.entries.get(_int_id(eid))
            if e is None or e["topic_id"] != t["id"]:
                raise not_found()
            if "message" in p:
                d.update_entry(e["id"], str(p["message"]))
            return ApiResponse(payload=entry_json(d, e, req.base_url, course["id"]), rows=1)

    # ------------------------------------------------------------------ planner
    def planner_items(self, req):
        d = self.data
        q = req.query
        bounds = {}
        for name in ("start_date", "end_date"):
            value = q.get(name)
            if value:
                ts = clock.parse_date_or_time(value)
                if ts is None:
                    raise bad_request({"errors": {name: f"Invalid date or datetime for {name}"}})
                bounds[name] = ts
        with d.lock:
            codes = q.getlist("context_codes")
            if codes:
                course_ids = []
                for code in codes:
                    m = re.fullmatch(r"course_(\d+)", code)
                    if m:
                        cid = int(m.group(1))
                        if cid not in d.courses or cid not in d.enrolled:
                            raise unauthorized(self.unauthorized_status)
                        course_ids.append(cid)
                    elif code != f"user_{SELF_USER_ID}":
                        raise unauthorized(self.unauthorized_status)
            else:
                course_ids = [c for c in sorted(d.enrolled) if d.enrollment_state(c) == "active"]
            lo = bounds.get("start_date", -math.inf)
            hi = bounds.get("end_date", math.inf)
            items = []
            for cid in course_ids:
                for a in d.course_assignments(cid):
                    due = a["_due_ts"]
                    if a["published"] and due is not None and lo <= due <= hi:
                        items.append((due, a["id"], a))
            items.sort(key=lambda x: (x[0], x[1]))
            n = per_page(q)
            page = q.get("page")
            after = decode_bookmark(page)
            start = 0
            if after is not None:
                if len(after) != 2 or not all(isinstance(x, (int, float)) for x in after):
                    raise not_found()
                start = bisect.bisect_right([(x[0], x[1]) for x in items], (float(after[0]), int(after[1])))
            chunk = items[start:start + n]
            next_bm = encode_bookmark([chunk[-1][0], chunk[-1][1]]) if start + n < len(items) else None
            payload = [self._planner_item(a, req) for _, _, a in chunk]
        body = json.dumps(payload, separators=(",", ":")).encode()
        etag = 'W/"' + hashlib.md5(body).hexdigest() + '"'
        link = bookmark_links(req.base_url, req.path.rstrip("/"), q, page or "first", next_bm, n)
        headers = [("Link", link), ("ETag", etag)]
        inm = req.headers.get("if-none-match")
        if inm and etag in [x.strip() for x in inm.split(",")] or inm == "*":
            return ApiResponse(status=304, body=b"", headers=headers)
        return ApiResponse(payload=payload, body=body, headers=headers, rows=len(chunk))

    def _planner_item(self, a: dict, req) -> dict:
        d = self.data
        cid = a["course_id"]
        ng = d.needs_grading_count(a["id"])
        return {
            "context_type": "Course", "course_id": cid, "plannable_id": a["id"], "planner_override": None,
            "plannable_type": "assignment", "new_activity": False,
            "submissions": {"submitted": False, "excused": False, "graded": False, "posted_at": None,
                            "late": False, "missing": False, "needs_grading": ng > 0, "has_feedback": False,
                            "redo_request": False},
            "plannable_date": a["due_at"],
            "plannable": {"id": a["id"], "title": a["name"], "created_at": a["created_at"],
                          "updated_at": a["updated_at"], "points_possible": a["points_possible"],
                          "due_at": a["due_at"]},
            "html_url": f"/courses/{cid}/assignments/{a['id']}", "context_name": d.courses[cid]["name"],
            "context_image": None,
        }


__all__ = ["ApiRequest", "ApiResponse", "CanvasApi"]
