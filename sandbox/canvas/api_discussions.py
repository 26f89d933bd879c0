"""Discussion endpoints: topics and their entries (mixed into ``CanvasApi`` as ``DiscussionRoutes``)."""
from __future__ import annotations

from . import clock
from .api_common import ApiResponse, _int_id, _truthy
from .constants import SELF_USER_ID
from .errors import bad_request, not_found, unauthorized
from .shapes import entry_json, topic_json


class DiscussionRoutes:
    """Topic and entry handlers; relies on ``CanvasApi``'s ``_course``/``_numbered`` helpers."""

    def _topic(self, course: dict, tid_raw: str) -> dict:
        t = self.data.topics.get(_int_id(tid_raw))
        if t is None or t["course_id"] != course["id"] or t.get("workflow_state") == "deleted":
            raise not_found()
        return t

    def _entry(self, topic: dict, eid_raw: str) -> dict:
        e = self.data.entries.get(_int_id(eid_raw))
        if e is None or e["topic_id"] != topic["id"]:
            raise not_found()
        return e

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
            return self._numbered(req, entries, lambda e: self._with_replies(e, req.base_url, course["id"]))

    def _with_replies(self, e: dict, base_url: str, course_id: int) -> dict:
        """A root entry carries its 10 newest replies at any depth (flattened) and has_more_replies."""
        d = self.data
        out = entry_json(d, e, base_url, course_id)
        below = sorted(self._descendants(e), key=lambda r: -r["id"])
        if below:
            out["recent_replies"] = [entry_json(d, r, base_url, course_id) for r in below[:10]]
            out["has_more_replies"] = len(below) > 10
        return out

    def _descendants(self, e: dict) -> list[dict]:
        children = [x for x in self.data.topic_entries(e["topic_id"]) if x["parent_id"] == e["id"]]
        return children + [g for c in children for g in self._descendants(c)]

    def replies_index(self, req, cid, tid, eid):
        """GET .../entries/:id/replies: the entry's direct replies, newest first (paginated)."""
        d = self.data
        with d.lock:
            course = self._course(cid)
            t = self._topic(course, tid)
            parent = self._entry(t, eid)
            replies = sorted((x for x in d.topic_entries(t["id"]) if x["parent_id"] == parent["id"]),
                             key=lambda x: -x["id"])
            return self._numbered(req, replies, lambda x: entry_json(d, x, req.base_url, course["id"]))

    def reply_create(self, req, cid, tid, eid):
        d = self.data
        p = req.params()
        with d.lock:
            course = self._course(cid, write=True)
            t = self._topic(course, tid)
            parent = self._entry(t, eid)
            message = p.get("message")
            if message is None or str(message) == "":
                raise bad_request({"errors": {"message": [{"attribute": "message", "type": "blank",
                                                           "message": "blank"}]}})
            e = d.create_entry(t["id"], str(message), parent_id=parent["id"])
            return ApiResponse(status=201, payload=entry_json(d, e, req.base_url, course["id"]), rows=1)

    def entry_list(self, req, cid, tid):
        """GET .../entry_list?ids[]=...: the named entries, any depth (DiscussionTopicsApiController#entry_list)."""
        d = self.data
        with d.lock:
            course = self._course(cid)
            t = self._topic(course, tid)
            wanted = {int(x) for x in req.query.getlist("ids") if str(x).isdigit()}
            entries = [e for e in d.topic_entries(t["id"]) if e["id"] in wanted]
            return ApiResponse(payload=[entry_json(d, e, req.base_url, course["id"]) for e in entries],
                               rows=len(entries))

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
            e = self._entry(t, eid)
            if e.get("deleted"):
                raise not_found()
            if "message" in p:
                d.update_entry(e["id"], str(p["message"]), editor_id=SELF_USER_ID)
            return ApiResponse(payload=entry_json(d, e, req.base_url, course["id"]), rows=1)

    def entry_delete(self, req, cid, tid, eid):
        """DELETE .../entries/:id: 204 No Content; the entry stays listed as deleted."""
        d = self.data
        with d.lock:
            t = self._topic(self._course(cid, write=True), tid)
            e = self._entry(t, eid)
            d.delete_entry(e["id"])
            return ApiResponse(status=204, body=b"", rows=1)

    def topic_delete(self, req, cid, tid):
        """DELETE .../discussion_topics/:id answers with the topic as it was (DiscussionTopicsController#destroy)."""
        d = self.data
        with d.lock:
            t = self._topic(self._course(cid, write=True), tid)
            payload = topic_json(d, t, req.base_url)
            d.delete_topic(t["id"])
            return ApiResponse(payload=payload, rows=1)
