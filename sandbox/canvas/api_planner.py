"""Planner endpoint: ``GET /api/v1/planner/items`` (mixed into ``CanvasApi`` as ``PlannerRoutes``)."""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import re

from . import clock
from .api_common import ApiResponse, parse_time_params
from .constants import SELF_USER_ID
from .errors import not_found, unauthorized
from .pagination import bookmark_links, decode_bookmark, encode_bookmark, per_page


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
