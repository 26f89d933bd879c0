"""The sandbox's Canvas data: a deterministic generator plus the change simulation.

``CanvasData`` holds everything the server serves. Records are plain dicts whose public
keys carry the same names and values the API returns (ISO 8601 ``Z`` strings for times);
keys starting with ``_`` are private bookkeeping (e.g. ``_due_ts``, an epoch float).

How to enumerate a generated data set::

    data.self_user                      # the token's user (a teacher in every course)
    data.students                       # list of student user dicts, id order
    data.terms.values()                 # {id, name, start_at, end_at, ...}; one past, one current
    data.courses.values()               # every course; data.enrolled = ids the user still sees
    data.course_groups(course_id)       # assignment group dicts, position order
    data.course_assignments(course_id)  # assignment dicts (not deleted), API default order
    data.assignments[assignment_id]     # one assignment dict (deleted ones move to
                                        # data.deleted_assignments)
    data.iter_submissions(course_id)    # submission dicts (API shape), id order, every
                                        # assignment incl. unpublished
    data.iter_submissions(course_id, published_only=True)
                                        # exactly what students/submissions?student_ids[]=all returns
    data.get_submission(assignment_id, user_id)
    data.topics / data.entries          # discussion topics and entries, keyed by id

Submissions are generated lazily per course (on first access) into compact columns, so a
50 x 100 x 200 data set (1,000,000 submissions) starts instantly and pages are slices.
Generated times are whole seconds; times set by the change simulation keep sub-second
precision like Canvas's database (so ``graded_since=<a graded_at just seen>`` can return
that submission again). Times in the generated data all lie before ``anchor`` (UTC midnight of the creation
day unless given), so the same seed on the same ``anchor`` gives identical data.
"""
from __future__ import annotations

import threading

from . import clock
from .constants import (ACCOUNT_ID, ASSIGNMENT_ID_BASE, COURSE_ID_BASE, ENTRY_ID_BASE,  # noqa: F401
                        GROUP_ID_BASE, SELF_USER_ID, STUDENT_ID_BASE, SUBMISSION_ID_BASE,
                        TOPIC_ID_BASE)
from .errors import SandboxError
from .generate import (FIRST_NAMES, GROUP_TEMPLATES, LAST_NAMES, LEVELS, SUBJECTS,  # noqa: F401
                       TOPICS, CanvasGenerator)
from .mutations import CanvasMutations
from .submissions import (F_EXCUSED, F_STALE_GRADE, GRADED, NO_SUBMISSION_TYPES,  # noqa: F401
                          PENDING_REVIEW, STATE_NAMES, SUBMITTED, UNSUBMITTED, CourseSubmissions,
                          SubmissionStore, expects_submission, fmt_score)


class CanvasData(CanvasGenerator, SubmissionStore, CanvasMutations):
    """The whole generated Canvas instance (see the module docstring for how to read it)."""

    def __init__(self, courses: int = 3, assignments: int = 10, students: int = 20, seed: int = 1,
                 anchor: float | None = None, topics_per_course: int = 3):
        if courses < 0 or assignments < 0 or students < 0:
            raise ValueError("sizes must be >= 0")
        self.seed = seed
        self.n_courses = courses
        self.n_assignments = assignments
        self.n_students = students
        self.anchor = clock.day_floor(clock.now()) if anchor is None else float(anchor)
        self.base_url = "http://127.0.0.1"
        self.lock = threading.RLock()

        self.self_user: dict = {}
        self.students: list[dict] = []
        self.terms: dict[int, dict] = {}
        self.courses: dict[int, dict] = {}
        self.enrolled: set[int] = set()
        # Courses the token's user still sees listed but may no longer open:
        # restricted = listed as a bare stub ("concluded" or "date"), revoked = listed in
        # full but every call inside answers unauthorized (an enrollment that just ended).
        self.restricted: dict[int, str] = {}
        self.revoked: set[int] = set()
        self.groups: dict[int, dict] = {}
        self.assignments: dict[int, dict] = {}
        self.deleted_assignments: dict[int, dict] = {}
        self.topics: dict[int, dict] = {}
        self.entries: dict[int, dict] = {}
        self._course_groups: dict[int, list[int]] = {}
        self._course_assignments: dict[int, list[int]] = {}
        self._course_topics: dict[int, list[int]] = {}
        self._topic_entries: dict[int, list[int]] = {}
        self._subs: dict[int, CourseSubmissions] = {}
        self._next_assignment_id = ASSIGNMENT_ID_BASE
        self._next_submission_id = SUBMISSION_ID_BASE
        self._next_topic_id = TOPIC_ID_BASE
        self._next_entry_id = ENTRY_ID_BASE
        self._course_sub_base: dict[int, int] = {}
        self._topics_per_course = topics_per_course
        # (user id, assignment id) -> the user's planner override (api_planner.py)
        self.planner_overrides: dict[tuple[int, int], dict] = {}
        self._next_override_id = 1
        self._generate()

    def next_override_id(self) -> int:
        with self.lock:
            oid = self._next_override_id
            self._next_override_id += 1
            return oid

    # ------------------------------------------------------------------ reading
    def enrollment_state(self, cid: int) -> str:
        """The token user's enrollment state in a course: active, or completed once its term ended."""
        if self.restricted.get(cid) == "concluded":
            return "completed"
        term = self.terms[self.courses[cid]["enrollment_term_id"]]
        return "completed" if term["_end_ts"] < clock.now() else "active"

    def course_groups(self, cid: int) -> list[dict]:
        return sorted((self.groups[g] for g in self._course_groups.get(cid, [])),
                      key=lambda g: (g["position"], g["id"]))

    def course_assignments(self, cid: int, order_by: str = "position") -> list[dict]:
        items = [self.assignments[a] for a in self._course_assignments.get(cid, []) if a in self.assignments]
        if order_by == "name":
            items.sort(key=lambda a: (a["name"].lower(), a["id"]))
        elif order_by == "due_at":
            items.sort(key=lambda a: (a["_due_ts"] is None, a["_due_ts"] or 0, a["id"]))
        else:
            gpos = {g["id"]: g["position"] for g in self.course_groups(cid)}
            items.sort(key=lambda a: (gpos.get(a["assignment_group_id"], 0), a["position"], a["id"]))
        return items

    def course_topics(self, cid: int) -> list[dict]:
        return [self.topics[t] for t in self._course_topics.get(cid, [])]

    def topic_entries(self, tid: int) -> list[dict]:
        return [self.entries[e] for e in self._topic_entries.get(tid, [])]

    def student_index(self, user_id: int) -> int | None:
        s_idx = user_id - STUDENT_ID_BASE
        return s_idx if 0 <= s_idx < self.n_students else None

    def _assignment(self, assignment_id: int) -> dict:
        a = self.assignments.get(int(assignment_id))
        if a is None:
            raise SandboxError(f"no assignment {assignment_id}")
        return a

    def _course(self, course_id: int) -> dict:
        c = self.courses.get(int(course_id))
        if c is None:
            raise SandboxError(f"no course {course_id}")
        return c

    def summary(self) -> dict:
        return {
            "seed": self.seed, "anchor": clock.iso(self.anchor), "courses": len(self.courses),
            "enrolled": sorted(self.enrolled), "restricted": {str(c): r for c, r in sorted(self.restricted.items())},
            "revoked": sorted(self.revoked), "assignments": len(self.assignments),
            "students": self.n_students, "submissions": self.submission_count(),
            "terms": [{k: v for k, v in t.items() if not k.startswith("_")} for t in self.terms.values()],
        }
