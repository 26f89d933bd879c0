"""Submission endpoints: ``assignments/:id/submissions[/:user_id]`` and ``students/submissions``
(mixed into ``CanvasApi`` as ``SubmissionRoutes``; see ``api.py`` for the Canvas behaviour followed).
"""
from __future__ import annotations

import bisect
import math

from . import clock
from .api_common import ApiResponse, _int_id, parse_time_params
from .constants import SELF_USER_ID, STUDENT_ID_BASE
from .errors import ApiError, not_found, unauthorized
from .pagination import MAX_PER_PAGE, bookmark_links, decode_bookmark, encode_bookmark, per_page, ruby_to_i
from .shapes import assignment_json, user_json
from .submissions import STATE_NAMES


class SubmissionRoutes:
    """Submission handlers; relies on ``CanvasApi``'s ``_course``/``_assignment``/``_numbered`` helpers."""

    def _render_submission(self, req, includes, cid, subs, r):
        d = self.data
        out = d.submission_row(cid, r, subs)
        if "assignment" in includes:
            out["assignment"] = assignment_json(d, d.assignments[out["assignment_id"]], req.base_url, req.as_student)
        if "user" in includes:
            out["user"] = user_json(d.students[out["user_id"] - STUDENT_ID_BASE])
        return out

    def assignment_submissions(self, req, cid, aid):
        d = self.data
        with d.lock:
            course = self._course(cid)
            a = self._assignment(course, aid)
            if req.as_student:  # listing an assignment's submissions needs :manage_grades / :view_all_grades
                raise unauthorized(self.unauthorized_status)
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
            user_id = req.user_id if uid == "self" else _int_id(uid)
            idx = d.student_index(user_id)
            if idx is None:
                raise not_found()
            if req.as_student and (user_id != req.user_id or not a["published"]):
                raise unauthorized(self.unauthorized_status)
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
            if req.as_student:
                # No :manage_grades / :view_all_grades: "all" means the students the caller may
                # see (themselves); an explicit list naming anyone else is unauthorized.
                ids = [int(x) for x in raw if x is not None and x.strip().isdigit()] if not want_all else []
                if want_all and self.student_all == "unauthorized":
                    raise unauthorized(self.unauthorized_status)
                if any(i != req.user_id for i in ids):
                    raise unauthorized(self.unauthorized_status)
                student_filter = [req.user_id - STUDENT_ID_BASE]
            elif not want_all:
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
            since = parse_time_params(q, ("submitted_since", "graded_since"), clock.parse_iso8601,
                                      "Invalid datetime")
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
