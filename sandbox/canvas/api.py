"""Canvas REST endpoints under ``/api/v1``: routing and request handling (no HTTP plumbing).

Behaviour follows canvas-lms where the source was checked (see the README section of
``sandbox/canvas/__init__.py``): ``students/submissions`` mirrors
``SubmissionsApiController#for_students`` (published assignments only, ``submitted_since``
and ``graded_since`` both applied with a strict ``>``, explicit student lists checked for
access before the 100-id limit, bookmark pages for ascending ``order=id|graded_at``).
"""
from __future__ import annotations

import re

from . import clock
from .api_common import JSON_TYPE, ApiRequest, ApiResponse, _int_id, _truthy  # noqa: F401 (re-exported)
from .api_discussions import DiscussionRoutes
from .api_planner import PlannerRoutes
from .api_submissions import SubmissionRoutes
from .data import CanvasData, SandboxError
from .errors import bad_request, not_found, unauthorized
from .pagination import paginate_numbered, ruby_to_i
from .shapes import (assignment_json, assignment_page_html, course_json, group_json, profile_json,
                     restricted_course_json, self_json)

VALID_BUCKETS = ("past", "overdue", "undated", "ungraded", "unsubmitted", "upcoming", "future")


class CanvasApi(SubmissionRoutes, DiscussionRoutes, PlannerRoutes):
    """The route table and handlers. ``unauthorized_status`` is 401 (older instances) or 403."""

    def __init__(self, data: CanvasData, unauthorized_status: int = 401, student_all: str = "own"):
        self.data = data
        self.unauthorized_status = unauthorized_status
        self.student_all = student_all
        c = r"/api/v1/courses/(?P<cid>[^/]+)"
        self.routes = [
            ("GET", r"/api/v1/users/self", self.users_self),
            ("GET", r"/api/v1/users/self/profile", self.user_profile),
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
            ("DELETE", c + r"/discussion_topics/(?P<tid>[^/]+)", self.topic_delete),
            ("GET", c + r"/discussion_topics/(?P<tid>[^/]+)/entries", self.entries_index),
            ("POST", c + r"/discussion_topics/(?P<tid>[^/]+)/entries", self.entry_create),
            ("GET", c + r"/discussion_topics/(?P<tid>[^/]+)/entry_list", self.entry_list),
            ("PUT", c + r"/discussion_topics/(?P<tid>[^/]+)/entries/(?P<eid>[^/]+)", self.entry_update),
            ("DELETE", c + r"/discussion_topics/(?P<tid>[^/]+)/entries/(?P<eid>[^/]+)", self.entry_delete),
            ("GET", c + r"/discussion_topics/(?P<tid>[^/]+)/entries/(?P<eid>[^/]+)/replies", self.replies_index),
            ("POST", c + r"/discussion_topics/(?P<tid>[^/]+)/entries/(?P<eid>[^/]+)/replies", self.reply_create),
            ("GET", r"/api/v1/planner/items", self.planner_items),
            ("GET", r"/api/v1/planner/overrides", self.overrides_index),
            ("POST", r"/api/v1/planner/overrides", self.override_create),
            ("GET", r"/api/v1/planner/overrides/(?P<oid>[^/]+)", self.override_show),
            ("PUT", r"/api/v1/planner/overrides/(?P<oid>[^/]+)", self.override_update),
            ("DELETE", r"/api/v1/planner/overrides/(?P<oid>[^/]+)", self.override_destroy),
            # Not the API: the page a person opens from an assignment's html_url.
            ("GET", r"/courses/(?P<cid>[^/]+)/assignments/(?P<aid>[^/]+)", self.assignment_page),
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
        if cid not in self.data.enrolled or cid in self.data.restricted or cid in self.data.revoked:
            # not enrolled, a restricted stub, or an enrollment that ended: render_unauthorized_action
            raise unauthorized(self.unauthorized_status)
        if write and self.data.enrollment_state(cid) == "completed":
            raise unauthorized(self.unauthorized_status)  # a concluded course is read-only
        return course

    def _assignment(self, course: dict, aid_raw: str) -> dict:
        a = self.data.assignments.get(_int_id(aid_raw))
        if a is None or a["course_id"] != course["id"]:
            raise not_found()
        return a

    @staticmethod
    def _visible_assignments(req: ApiRequest, items: list) -> list:
        """A student sees published assignments only."""
        return [a for a in items if a["published"]] if req.as_student else items

    def _includes(self, req: ApiRequest) -> set[str]:
        return set(req.query.getlist("include"))

    def _numbered(self, req: ApiRequest, items: list, render) -> ApiResponse:
        chunk, link = paginate_numbered(items, req.query, req.base_url, req.path.rstrip("/"))
        return ApiResponse(payload=[render(x) for x in chunk], headers=[("Link", link)], rows=len(chunk))

    # ------------------------------------------------------------------ users
    def users_self(self, req):
        return ApiResponse(payload=self_json(self.data, req.user_id), rows=1)

    def user_profile(self, req):
        """users/self/profile (lib/api/v1/user_profile.rb): the user's own zone is ``time_zone``."""
        return ApiResponse(payload=profile_json(self.data, req.user_id), rows=1)

    def assignment_page(self, req, cid, aid):
        """A plain HTML page for an assignment's html_url, so demo links open something readable."""
        with self.data.lock:
            course = self.data.courses.get(_int_id(cid))
            a = self.data.assignments.get(_int_id(aid))
            if course is None or a is None or a["course_id"] != course["id"]:
                raise not_found()
            html = assignment_page_html(course, a)
        return ApiResponse(body=html.encode(), content_type="text/html; charset=utf-8", rows=1)

    def user_show(self, req, uid):
        if uid == "self" or (uid.isdigit() and int(uid) == req.user_id):
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

            def render(c):
                if c["id"] in d.restricted:
                    return restricted_course_json(c)
                return course_json(d, c, includes, req.base_url, req.user_id)

            return self._numbered(req, courses, render)

    def course_show(self, req, cid):
        with self.data.lock:
            course = self._course(cid)
            return ApiResponse(payload=course_json(self.data, course, self._includes(req), req.base_url,
                                                   req.user_id), rows=1)

    def groups_index(self, req, cid):
        d = self.data
        with d.lock:
            course = self._course(cid)
            includes = self._includes(req)
            by_group: dict[int, list] = {}
            if "assignments" in includes:
                for a in self._visible_assignments(req, d.course_assignments(course["id"])):
                    by_group.setdefault(a["assignment_group_id"], []).append(a)

            def render(g):
                out = group_json(g)
                if "assignments" in includes:
                    out["assignments"] = [assignment_json(d, a, req.base_url, req.as_student)
                                          for a in by_group.get(g["id"], [])]
                return out

            return self._numbered(req, d.course_groups(course["id"]), render)

    def assignments_index(self, req, cid):
        d = self.data
        q = req.query
        with d.lock:
            course = self._course(cid)
            order_by = q.get("order_by") or "position"
            items = self._visible_assignments(req, d.course_assignments(
                course["id"], order_by if order_by in ("position", "name", "due_at") else "position"))
            ids = {ruby_to_i(x, 0) for x in q.getlist("assignment_ids")}
            if ids:
                items = [a for a in items if a["id"] in ids]
            bucket = q.get("bucket")
            if bucket:
                if bucket not in VALID_BUCKETS:
                    raise bad_request({"errors": [{"message": "bucket name must be one of the following: "
                                                   + ", ".join(VALID_BUCKETS)}]})
                items = self._bucket(items, bucket)
            return self._numbered(req, items, lambda a: assignment_json(d, a, req.base_url, req.as_student))

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
            if req.as_student and not a["published"]:
                raise unauthorized(self.unauthorized_status)
            return ApiResponse(payload=assignment_json(self.data, a, req.base_url, req.as_student), rows=1)


__all__ = ["ApiRequest", "ApiResponse", "CanvasApi"]
