"""The change simulation: the mutation methods of ``CanvasData`` (mixed in as ``CanvasMutations``)."""
from __future__ import annotations

import math
from array import array

from . import clock
from .constants import SELF_USER_ID
from .errors import SandboxError
from .sanitize import sanitize_message
from .submissions import (F_EXCUSED, F_STALE_GRADE, GRADED, SUBMITTED, UNSUBMITTED,
                          CourseSubmissions)


class CanvasMutations:
    """Changes like a teacher or student would make them; each public method holds ``self.lock``."""

    def _touch_subs(self, cid: int) -> CourseSubmissions:
        subs = self._course_subs(cid)  # materialize before the change, so generation stays deterministic
        subs.version += 1
        return subs

    def rename_course(self, course_id: int, name: str) -> dict:
        """Courses carry no updated_at in Canvas: only the name changes."""
        with self.lock:
            c = self._course(course_id)
            c["name"] = str(name)
            return c

    ASSIGNMENT_FIELDS = {"name", "description", "points_possible", "due_at", "unlock_at", "lock_at",
                         "published", "submission_types", "assignment_group_id", "position", "grading_type"}

    def update_assignment(self, assignment_id: int, **fields) -> dict:
        """Change an assignment; moves ``updated_at`` to now like Canvas does."""
        with self.lock:
            a = self._assignment(assignment_id)
            unknown = set(fields) - self.ASSIGNMENT_FIELDS
            if unknown:
                raise SandboxError(f"unknown assignment fields: {sorted(unknown)}")
            self._touch_subs(a["course_id"])
            self._apply_assignment_fields(a, fields)
            a["updated_at"] = clock.iso(clock.now())
            return a

    def _apply_assignment_fields(self, a: dict, fields: dict) -> None:
        for key, value in fields.items():
            if key == "due_at":
                self._set_due(a, clock.coerce_time(value))
            elif key in ("unlock_at", "lock_at"):
                a[key] = clock.iso(clock.coerce_time(value))
            elif key == "points_possible":
                a[key] = None if value is None else float(value)
            elif key == "assignment_group_id":
                g = self.groups.get(int(value))
                if g is None or g["course_id"] != a["course_id"]:
                    raise SandboxError(f"no assignment group {value} in course {a['course_id']}")
                a[key] = g["id"]
            elif key == "submission_types":
                a[key] = list(value)
            elif key == "published":
                a[key] = bool(value)
            else:
                a[key] = value

    def add_assignment(self, course_id: int, **fields) -> dict:
        """Create an assignment (created_at = updated_at = now) with unsubmitted submissions."""
        with self.lock:
            c = self._course(course_id)
            cid = c["id"]
            subs = self._touch_subs(cid)
            unknown = set(fields) - self.ASSIGNMENT_FIELDS
            if unknown:
                raise SandboxError(f"unknown assignment fields: {sorted(unknown)}")
            gid = int(fields.get("assignment_group_id") or self._course_groups[cid][0])
            if gid not in self._course_groups[cid]:
                raise SandboxError(f"no assignment group {gid} in course {cid}")
            now = clock.now()
            aid = self._next_assignment_id
            self._next_assignment_id += 1
            in_group = [x for x in self._course_assignments[cid]
                        if x in self.assignments and self.assignments[x]["assignment_group_id"] == gid]
            a = {
                "id": aid, "course_id": cid, "assignment_group_id": gid, "name": f"New Assignment {aid}",
                "description": None, "position": len(in_group) + 1, "points_possible": 10.0,
                "grading_type": "points", "submission_types": ["online_upload"], "due_at": None,
                "unlock_at": None, "lock_at": None, "created_at": clock.iso(now), "updated_at": clock.iso(now),
                "published": True, "_due_ts": None, "_created_ts": now,
            }
            self._apply_assignment_fields(a, {k: v for k, v in fields.items() if k != "assignment_group_id"})
            self.assignments[aid] = a
            self._course_assignments[cid].append(aid)
            S = subs.n_students
            subs.apos[aid] = len(subs.assignment_ids)
            subs.assignment_ids.append(aid)
            subs.sub_base.append(self._next_submission_id)
            self._next_submission_id += S
            subs.score.extend(array("d", [math.nan]) * S)
            subs.submitted_at.extend(array("d", bytes(8 * S)))
            subs.graded_at.extend(array("d", bytes(8 * S)))
            subs.state.extend(array("B", bytes(S)))
            subs.flags.extend(array("B", bytes(S)))
            subs.attempt.extend(array("B", bytes(S)))
            return a

    def delete_assignment(self, assignment_id: int) -> dict:
        """Delete an assignment: it (and its submissions) disappear from every endpoint (404)."""
        with self.lock:
            a = self._assignment(assignment_id)
            self._touch_subs(a["course_id"])
            del self.assignments[a["id"]]
            a["updated_at"] = clock.iso(clock.now())
            self.deleted_assignments[a["id"]] = a
            return a

    def _row(self, assignment_id: int, user_id: int) -> tuple[dict, CourseSubmissions, int]:
        a = self._assignment(assignment_id)
        s_idx = self.student_index(int(user_id))
        if s_idx is None:
            raise SandboxError(f"no student {user_id}")
        subs = self._touch_subs(a["course_id"])
        return a, subs, subs.row_of(a["id"], s_idx)

    def grade_submission(self, assignment_id: int, user_id: int, score: float | None) -> dict:
        """Grade or regrade: score, graded_at = now, workflow_state graded (score None ungrades)."""
        with self.lock:
            a, subs, r = self._row(assignment_id, user_id)
            now = clock.now()
            subs.flags[r] &= ~(F_EXCUSED | F_STALE_GRADE) & 0xFF
            if score is None:
                subs.score[r] = math.nan
                subs.graded_at[r] = 0.0
                subs.state[r] = SUBMITTED if subs.submitted_at[r] else UNSUBMITTED
            else:
                subs.score[r] = float(score)
                subs.graded_at[r] = now
                subs.state[r] = GRADED
            return self.submission_row(a["course_id"], r, subs)

    def excuse_submission(self, assignment_id: int, user_id: int) -> dict:
        with self.lock:
            a, subs, r = self._row(assignment_id, user_id)
            subs.flags[r] = F_EXCUSED
            subs.score[r] = math.nan
            subs.graded_at[r] = clock.now()
            subs.state[r] = GRADED
            return self.submission_row(a["course_id"], r, subs)

    def submit(self, assignment_id: int, user_id: int) -> dict:
        """A student (re)submits: submitted_at = now, attempt + 1; a graded one keeps its grade."""
        with self.lock:
            a, subs, r = self._row(assignment_id, user_id)
            subs.submitted_at[r] = clock.now()
            subs.attempt[r] = min(subs.attempt[r] + 1, 255)
            if subs.state[r] == GRADED:
                subs.flags[r] |= F_STALE_GRADE
            subs.state[r] = SUBMITTED
            return self.submission_row(a["course_id"], r, subs)

    def unenroll(self, course_id: int) -> None:
        """The token's user loses its enrollment: the course vanishes from lists, reads are unauthorized."""
        with self.lock:
            self._course(course_id)
            self.enrolled.discard(int(course_id))

    def enroll(self, course_id: int) -> None:
        with self.lock:
            self._course(course_id)
            self.enrolled.add(int(course_id))

    RESTRICT_REASONS = ("concluded", "date")

    def restrict_course(self, course_id: int, reason: str = "concluded") -> None:
        """The course becomes a bare ``{"id", "access_restricted_by_date": true}`` stub in the lists.

        ``concluded``: listed with ``enrollment_state=completed`` (the term ended and the
        course hides past terms); ``date``: listed with the current ones (its dates keep
        the user out). Every call inside it answers unauthorized.
        """
        with self.lock:
            self._course(course_id)
            if reason not in self.RESTRICT_REASONS:
                raise SandboxError(f"reason must be one of {', '.join(self.RESTRICT_REASONS)}")
            self.restricted[int(course_id)] = reason

    def revoke_access(self, course_id: int) -> None:
        """The user's enrollment ends mid-life: still listed in full, every call inside answers unauthorized."""
        with self.lock:
            self._course(course_id)
            self.revoked.add(int(course_id))

    def restore_access(self, course_id: int) -> None:
        with self.lock:
            self._course(course_id)
            self.restricted.pop(int(course_id), None)
            self.revoked.discard(int(course_id))

    # discussions
    def create_topic(self, course_id: int, title: str, message: str, published: bool = True,
                     user_id: int = SELF_USER_ID) -> dict:
        with self.lock:
            cid = self._course(course_id)["id"]
            now = clock.iso(clock.now())
            tid = self._next_topic_id
            self._next_topic_id += 1
            self.topics[tid] = {
                "id": tid, "course_id": cid, "title": title, "message": sanitize_message(message), "user_id": user_id,
                "posted_at": now if published else None, "created_at": now, "last_reply_at": None,
                "published": bool(published), "pinned": False, "locked": False, "discussion_type": "threaded",
                "assignment_id": None, "delayed_post_at": None, "lock_at": None, "require_initial_post": False,
            }
            self._course_topics[cid].append(tid)
            self._topic_entries[tid] = []
            return self.topics[tid]

    TOPIC_FIELDS = {"title", "message", "published", "pinned", "locked", "require_initial_post"}

    def update_topic(self, topic_id: int, **fields) -> dict:
        with self.lock:
            t = self.topics.get(int(topic_id))
            if t is None:
                raise SandboxError(f"no topic {topic_id}")
            for key, value in fields.items():
                if key in self.TOPIC_FIELDS:
                    t[key] = sanitize_message(value) if key == "message" else value
            if t["published"] and not t["posted_at"]:
                t["posted_at"] = clock.iso(clock.now())
            return t

    def create_entry(self, topic_id: int, message: str, user_id: int = SELF_USER_ID,
                     parent_id: int | None = None) -> dict:
        with self.lock:
            t = self.topics.get(int(topic_id))
            if t is None:
                raise SandboxError(f"no topic {topic_id}")
            user = self.self_user if user_id == SELF_USER_ID else self.students[self.student_index(user_id)]
            now = clock.iso(clock.now())
            eid = self._next_entry_id
            self._next_entry_id += 1
            self.entries[eid] = {
                "id": eid, "topic_id": t["id"], "user_id": user["id"], "user_name": user["name"],
                "parent_id": parent_id, "message": sanitize_message(message), "created_at": now, "updated_at": now,
                "rating_count": None, "rating_sum": None,
            }
            self._topic_entries[t["id"]].append(eid)
            t["last_reply_at"] = now
            return self.entries[eid]

    def update_entry(self, entry_id: int, message: str, editor_id: int | None = None) -> dict:
        with self.lock:
            e = self.entries.get(int(entry_id))
            if e is None or e.get("deleted"):
                raise SandboxError(f"no entry {entry_id}")
            e["message"] = sanitize_message(message)
            e["updated_at"] = clock.iso(clock.now())
            if editor_id is not None and editor_id != e["user_id"]:
                e["editor_id"] = editor_id
            return e

    def delete_entry(self, entry_id: int) -> dict:
        """Canvas soft-deletes an entry: it stays in the list as ``deleted: true`` without its message."""
        with self.lock:
            e = self.entries.get(int(entry_id))
            if e is None:
                raise SandboxError(f"no entry {entry_id}")
            e["deleted"] = True
            e["updated_at"] = clock.iso(clock.now())
            return e

    def delete_topic(self, topic_id: int) -> dict:
        """A deleted topic leaves the course's list; reading it answers 404."""
        with self.lock:
            t = self.topics.get(int(topic_id))
            if t is None:
                raise SandboxError(f"no topic {topic_id}")
            t["workflow_state"] = "deleted"
            self._course_topics[t["course_id"]] = [x for x in self._course_topics[t["course_id"]] if x != t["id"]]
            return t
