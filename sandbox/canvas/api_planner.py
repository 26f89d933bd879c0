"""Planner endpoints (mixed into ``CanvasApi`` as ``PlannerRoutes``): ``GET /api/v1/planner/items`` and
planner overrides, as canvas-lms's ``planner_controller.rb`` and ``planner_overrides_controller.rb``.

An override is the caller's own mark on one plannable: ``marked_complete`` (done in the
planner) and ``dismissed``. One per user and plannable (a second POST is a 400 "taken"),
found only by its owner (anyone else's id is a 404), and every item in ``planner/items``
carries its override or ``null``. ``PUT`` sets both flags from the parameters, as Rails'
``value_to_boolean`` does, so a flag left out becomes false.

``GET planner/overrides`` is ``Api.paginate(PlannerOverride.for_user(@current_user).active)``:
the caller's own overrides in numbered pages, only those whose ``workflow_state`` is
``active``. Canvas keeps that state in step with the plannable (``PlannerOverride.update_for``),
so an override of an unpublished assignment is ``unpublished`` and one of a deleted
assignment, or a deleted override (``destroy`` only sets ``deleted``), is ``deleted``:
none of these is listed.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import re

from . import clock
from .api_common import ApiResponse, parse_time_params
from .constants import SELF_USER_ID
from .api_common import _int_id, _truthy
from .errors import bad_request, not_found, unauthorized
from .pagination import bookmark_links, decode_bookmark, encode_bookmark, paginate_numbered, per_page


class PlannerRoutes:
    """Planner items: the caller's published, dated assignments, bookmark-paged, with a weak ETag."""

    def planner_items(self, req):
        d = self.data
        q = req.query
        bounds = parse_time_params(q, ("start_date", "end_date"), clock.parse_date_or_time,
                                   "Invalid date or datetime")
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
            "context_type": "Course", "course_id": cid, "plannable_id": a["id"],
            "planner_override": self._override_json(d.planner_overrides.get((req.user_id, a["id"]))),
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

    # ------------------------------------------------------------------ overrides
    PLANNABLE_TYPES = {"assignment": "Assignment"}

    def _override_state(self, o: dict) -> str:
        """The override's workflow_state as Canvas keeps it: that of its plannable while not deleted."""
        if o["workflow_state"] == "deleted":
            return "deleted"
        a = self.data.assignments.get(o["plannable_id"])
        if a is None:
            return "deleted"
        return "active" if a["published"] else "unpublished"

    def _override_json(self, o: dict | None) -> dict | None:
        if o is None:
            return None
        return {"id": o["id"], "plannable_type": o["plannable_type"], "plannable_id": o["plannable_id"],
                "user_id": o["user_id"], "assignment_id": o["plannable_id"], "workflow_state": self._override_state(o),
                "marked_complete": o["marked_complete"], "dismissed": o["dismissed"],
                "created_at": o["created_at"], "updated_at": o["updated_at"], "deleted_at": o["deleted_at"]}

    def _own_override(self, req, oid_raw: str) -> dict:
        oid = _int_id(oid_raw)
        for o in self.data.planner_overrides.values():
            if o["id"] == oid and o["user_id"] == req.user_id and o["workflow_state"] == "active":
                return o
        raise not_found()

    def overrides_index(self, req):
        with self.data.lock:
            mine = sorted((o for o in self.data.planner_overrides.values()
                           if o["user_id"] == req.user_id and self._override_state(o) == "active"),
                          key=lambda o: o["id"])
            chunk, link = paginate_numbered(mine, req.query, req.base_url, req.path.rstrip("/"))
            payload = [self._override_json(o) for o in chunk]
        return ApiResponse(payload=payload, headers=[("Link", link)], rows=len(payload))

    def override_show(self, req, oid):
        with self.data.lock:
            return ApiResponse(payload=self._override_json(self._own_override(req, oid)), rows=1)

    def override_create(self, req):
        p = req.params()
        kind = self.PLANNABLE_TYPES.get(str(p.get("plannable_type", "")))
        pid = p.get("plannable_id")
        with self.data.lock:
            a = self.data.assignments.get(int(pid)) if kind and str(pid).isdigit() else None
            if a is None:
                return ApiResponse(status=404, payload={"message": f"No object of type {kind} with that ID"})
            key = (req.user_id, a["id"])
            if key in self.data.planner_overrides:
                raise bad_request({"errors": {"plannable_id": [
                    {"attribute": "plannable_id", "type": "taken", "message": "taken"}]}})
            stamp = clock.iso(clock.now())
            o = {"id": self.data.next_override_id(), "plannable_type": "assignment", "plannable_id": a["id"],
                 "user_id": req.user_id, "workflow_state": "active",
                 "marked_complete": _truthy(p.get("marked_complete", False)),
                 "dismissed": _truthy(p.get("dismissed", False)),
                 "created_at": stamp, "updated_at": stamp, "deleted_at": None}
            self.data.planner_overrides[key] = o
            return ApiResponse(status=201, payload=self._override_json(o), rows=1)

    def override_update(self, req, oid):
        p = req.params()
        with self.data.lock:
            o = self._own_override(req, oid)
            o["marked_complete"] = _truthy(p.get("marked_complete", False))
            o["dismissed"] = _truthy(p.get("dismissed", False))
            o["updated_at"] = clock.iso(clock.now())
            return ApiResponse(payload=self._override_json(o), rows=1)

    def override_destroy(self, req, oid):
        with self.data.lock:
            o = self._own_override(req, oid)
            del self.data.planner_overrides[(o["user_id"], o["plannable_id"])]
            o["workflow_state"] = "deleted"
            o["deleted_at"] = o["updated_at"] = clock.iso(clock.now())
            return ApiResponse(payload=self._override_json(o), rows=1)
