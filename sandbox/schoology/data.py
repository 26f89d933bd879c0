"""The sandbox's Schoology school: a deterministic generator plus the change simulation.

Records are plain dicts shaped like the API's JSON, including its quirks (documented in
Schoology's REST v1 pages): course ids are numbers but a section's `course_id` is a
string, section ids are strings, assignment ids numbers, `max_points`/`allow_dropbox`
strings, `published` a number, `due` a local wall-clock time "YYYY-MM-DD HH:MM:SS" in
the school's time zone (the user's `tz_name`), revision/grade times Unix seconds.

How to enumerate::

    data.me                                   # the API user (a teacher, admin in every section)
    data.students                             # student user dicts
    data.grading_periods                      # {id: period}; one past, one current
    data.courses                              # {id: course}
    data.sections                             # {section id (str): section}; `_past` marks past ones
    data.section_ids(include_past=False)      # what courses/{id}/sections would list, all courses
    data.enrollments[section_id]              # enrollment dicts (teacher first)
    data.section_assignments(section_id)      # assignment dicts, API order
    data.revisions[(assignment_id, uid)]      # latest revision dict, when the student submitted
    data.grades[(assignment_id, enrollment_id)]  # grade dict, when graded

Times lie around `anchor` (UTC midnight of the creation day unless given): the same seed
on the same anchor gives identical data.
"""
from __future__ import annotations

import copy
import random
import threading
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

DAY = 86400
SCHOOL_ID = 344232
ME_UID = 45552
STUDENT_UID_BASE = 48289
COURSE_ID_BASE = 1407691
SECTION_ID_BASE = 4318461
ENROLLMENT_ID_BASE = 44783136
ASSIGNMENT_ID_BASE = 5699937
PAST_PERIOD_ID = 435
CURRENT_PERIOD_ID = 13011
SUBJECTS = ("Time Travel", "Biology", "World History", "Algebra II", "Chemistry", "Poetry", "Statistics")
FIRST = ("James", "Ororo", "Jean", "Scott", "Kitty", "Remy", "Anna", "Kurt", "Piotr", "Hank")
LAST = ("Howlett", "Munroe", "Grey", "Summers", "Pryde", "LeBeau", "Marie", "Wagner", "Rasputin", "McCoy")


class SandboxError(ValueError):
    """A control request that cannot be carried out (unknown id, bad field)."""


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class SchoologyData:
    def __init__(self, courses: int = 2, assignments: int = 4, students: int = 3, seed: int = 1,
                 past_sections: bool = True, anchor: float | None = None, tz_name: str = "America/New_York"):
        if courses < 0 or assignments < 0 or students < 0:
            raise ValueError("sizes must be >= 0")
        self.lock = threading.RLock()
        self.seed = seed
        self.tz_name = tz_name
        self.tz = ZoneInfo(tz_name)
        self.anchor = float(int(time.time() // DAY) * DAY) if anchor is None else float(anchor)
        self._rng = random.Random(seed)
        self._next_enrollment = ENROLLMENT_ID_BASE
        self._next_assignment = ASSIGNMENT_ID_BASE
        self._next_revision = 1
        self.me = self._user(ME_UID, "Mr.", "Strickland", role_id=1212)
        self.students = [self._user(STUDENT_UID_BASE + i, FIRST[i % len(FIRST)], LAST[(i * 3) % len(LAST)])
                         for i in range(students)]
        self.users = {u["uid"]: u for u in [self.me, *self.students]}
        self.grading_periods = {
            PAST_PERIOD_ID: {"id": PAST_PERIOD_ID, "title": "Spring Term",
                             "start": _date(self.anchor - 300 * DAY), "end": _date(self.anchor - 120 * DAY),
                             "active": "0"},
            CURRENT_PERIOD_ID: {"id": CURRENT_PERIOD_ID, "title": "Fall Term",
                                "start": _date(self.anchor - 60 * DAY), "end": _date(self.anchor + 120 * DAY),
                                "active": "1"},
        }
        self.courses: dict[int, dict] = {}
        self.sections: dict[str, dict] = {}
        self.enrollments: dict[str, list[dict]] = {}
        self.assignments: dict[int, dict] = {}
        self.revisions: dict[tuple[int, str], dict] = {}
        self.grades: dict[tuple[int, str], dict] = {}
        for c in range(courses):
            course = self._course(c)
            self._section(course, SECTION_ID_BASE + c * 10, CURRENT_PERIOD_ID, assignments)
            if past_sections:
                self._section(course, SECTION_ID_BASE + c * 10 + 5, PAST_PERIOD_ID, assignments)

    # ------------------------------------------------------------------ generation
    def _user(self, uid: int, first: str, last: str, role_id: int = 1214) -> dict:
        return {"uid": str(uid), "id": uid, "school_id": SCHOOL_ID, "synced": 0, "school_uid": f"s{uid}",
                "building_id": SCHOOL_ID, "name_title": "", "name_title_show": 0, "name_first": first,
                "name_first_preferred": "", "name_middle": "", "name_middle_show": 0, "name_last": last,
                "name_display": f"{first} {last}", "username": f"{first}{last}".lower().replace(".", ""),
                "primary_email": "", "role_id": role_id, "tz_offset": -5, "tz_name": self.tz_name}

    def _course(self, index: int) -> dict:
        cid = COURSE_ID_BASE + index
        course = {"id": cid, "title": SUBJECTS[index % len(SUBJECTS)] + ("" if index < len(SUBJECTS) else f" {index}"),
                  "course_code": f"CC{106 + index}", "department": "", "description": "", "credits": 0,
                  "subject_area": 0, "grade_level_range_start": 12, "grade_level_range_end": 14, "synced": 1,
                  "building_id": str(SCHOOL_ID)}
        self.courses[cid] = course
        return course

    def _section(self, course: dict, section_id: int, period_id: int, n_assignments: int) -> dict:
        sid = str(section_id)
        past = period_id == PAST_PERIOD_ID
        section = {"id": sid, "course_title": course["title"], "course_code": course["course_code"],
                   "course_id": str(course["id"]), "school_id": str(SCHOOL_ID), "access_code": f"GBMWW-{sid[-5:]}",
                   "section_title": f"Section {'P' if past else ''}{section_id % 100}", "section_code": "",
                   "section_school_code": f"SI{section_id}", "synced": "0", "active": 0 if past else 1,
                   "description": "", "grading_periods": [period_id], "profile_url": "", "location": "",
                   "meeting_days": [""], "start_time": "", "end_time": "", "weight": "0", "admin": 1,
                   "_past": past}
        self.sections[sid] = section
        rows = [self._enrollment(self.me, admin=1)] + [self._enrollment(s) for s in self.students]
        self.enrollments[sid] = rows
        for i in range(n_assignments):
            days = (i - n_assignments // 2) * 3 + (-180 if past else 0)
            local_due = datetime.fromtimestamp(self.anchor + days * DAY, self.tz).replace(hour=23, minute=59, second=0)
            self._assignment(sid, period_id, {
                "title": f"{course['title']} {'quiz' if i % 3 == 2 else 'homework'} {i + 1}",
                "due": local_due.strftime("%Y-%m-%d %H:%M:%S"),
                "max_points": str([10, 20, 100][i % 3]), "published": 0 if i % 7 == 6 else 1,
                "allow_dropbox": "0" if i % 5 == 4 else "1"}, generate_work=True)
        return section

    def _enrollment(self, user: dict, admin: int = 0) -> dict:
        eid = str(self._next_enrollment)
        self._next_enrollment += 1
        return {"id": eid, "uid": user["uid"], "school_uid": user["school_uid"], "name_first": user["name_first"],
                "name_last": user["name_last"], "name_display": user["name_display"], "admin": admin, "status": "1"}

    def _assignment(self, sid: str, period_id: int, fields: dict, generate_work: bool = False) -> dict:
        aid = self._next_assignment
        self._next_assignment += 1
        assignment = {"id": aid, "title": "Untitled", "description": "", "due": "", "grading_scale": "0",
                      "grading_period": str(period_id), "grading_category": "0", "max_points": "100", "factor": "1",
                      "is_final": "0", "show_comments": "0", "grade_stats": "0", "allow_dropbox": "1",
                      "allow_discussion": "1", "published": 1, "type": "assignment", "grade_item_id": aid,
                      "available": 1, "completed": 0, "dropbox_locked": 0, "grading_scale_type": 0,
                      "show_rubric": False, "num_assignees": 0, "assignees": [], "completion_status": "",
                      "_section_id": sid}
        assignment.update(self._clean_fields(fields))
        self.assignments[aid] = assignment
        if generate_work and assignment["allow_dropbox"] == "1":
            due_ts = self.due_ts(assignment) or self.anchor
            points = float(assignment["max_points"])
            for enrollment in self.enrollments[sid][1:]:
                roll = self._rng.random()
                if roll < 0.3 or due_ts - 2 * DAY > self.anchor:
                    continue  # not turned in (yet)
                late = roll > 0.85
                created = int(due_ts + (3600 if late else -3 * 3600 - int(roll * 3600)))
                self._add_revision(aid, enrollment["uid"], created, late)
                if roll < 0.7 and created < self.anchor:
                    self._set_grade(aid, enrollment["id"], round(points * (0.6 + roll / 2.5), 1), created + DAY)
        return assignment

    def _clean_fields(self, fields: dict) -> dict:
        allowed = {"title", "description", "due", "max_points", "published", "allow_dropbox", "grading_period"}
        unknown = set(fields) - allowed
        if unknown:
            raise SandboxError(f"unknown assignment fields: {sorted(unknown)}")
        out = dict(fields)
        if "due" in out and out["due"]:
            try:
                datetime.strptime(out["due"], "%Y-%m-%d %H:%M:%S")
            except (TypeError, ValueError):
                raise SandboxError("due must be 'YYYY-MM-DD HH:MM:SS' (school local time)") from None
        for key in ("max_points", "allow_dropbox", "grading_period"):
            if key in out:
                out[key] = str(out[key])
        if "published" in out:
            out["published"] = int(out["published"])
        return out

    def _add_revision(self, aid: int, uid: str, created: int, late: bool) -> dict:
        rev = {"revision_id": self._next_revision, "uid": int(uid), "created": created, "num_items": 1,
               "late": 1 if late else 0, "draft": 0}
        self._next_revision += 1
        self.revisions[(aid, uid)] = rev
        return rev

    def _set_grade(self, aid: int, enrollment_id: str, grade, timestamp: int, exception: int = 0) -> dict:
        assignment = self.assignments[aid]
        row = {"enrollment_id": int(enrollment_id), "assignment_id": aid, "grade": None if exception else grade,
               "exception": exception, "max_points": float(assignment["max_points"]), "is_final": 0,
               "timestamp": timestamp, "comment": "", "comment_status": None, "override": None,
               "calculated_grade": None, "pending": None, "type": "assignment", "scale_id": 0, "scale_type": 0,
               "category_id": 0}
        self.grades[(aid, enrollment_id)] = row
        return row

    # ------------------------------------------------------------------ reading
    def due_ts(self, assignment: dict) -> float | None:
        if not assignment.get("due"):
            return None
        local = datetime.strptime(assignment["due"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=self.tz)
        return local.astimezone(timezone.utc).timestamp()

    def course_sections(self, course_id: int, include_past: bool) -> list[dict]:
        return [s for s in self.sections.values()
                if s["course_id"] == str(course_id) and (include_past or not s["_past"])]

    def section_ids(self, include_past: bool = False) -> list[str]:
        return [sid for sid, s in self.sections.items() if include_past or not s["_past"]]

    def section_assignments(self, sid: str) -> list[dict]:
        # Schoology orders non-final before final, then by due date
        rows = [a for a in self.assignments.values() if a["_section_id"] == sid]
        return sorted(rows, key=lambda a: (a["is_final"], a["due"] or "9999", a["id"]))

    def section_grades(self, sid: str) -> list[dict]:
        ids = {a["id"] for a in self.section_assignments(sid)}
        return [g for (aid, _), g in sorted(self.grades.items()) if aid in ids]

    def assignment_revisions(self, aid: int) -> list[dict]:
        return [r for (a, _), r in sorted(self.revisions.items()) if a == aid]

    def enrollment_for(self, sid: str, uid: str) -> dict:
        for row in self.enrollments[sid]:
            if row["uid"] == str(uid):
                return row
        raise SandboxError(f"user {uid} is not enrolled in section {sid}")

    def public(self, record: dict) -> dict:
        """A record as the API shows it (private `_` keys dropped)."""
        return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}

    # ------------------------------------------------------------------ change simulation
    def _assignment_or_error(self, assignment_id) -> dict:
        try:
            return self.assignments[int(assignment_id)]
        except (KeyError, TypeError, ValueError):
            raise SandboxError(f"no assignment {assignment_id}") from None

    def add_assignment(self, section_id, **fields) -> dict:
        with self.lock:
            sid = str(section_id)
            if sid not in self.sections:
                raise SandboxError(f"no section {section_id}")
            period = self.sections[sid]["grading_periods"][0]
            return self.public(self._assignment(sid, period, fields))

    def update_assignment(self, assignment_id, **fields) -> dict:
        with self.lock:
            assignment = self._assignment_or_error(assignment_id)
            assignment.update(self._clean_fields(fields))
            return self.public(assignment)

    def delete_assignment(self, assignment_id) -> dict:
        with self.lock:
            assignment = self._assignment_or_error(assignment_id)
            aid = assignment["id"]
            del self.assignments[aid]
            for key in [k for k in self.revisions if k[0] == aid]:
                del self.revisions[key]
            for key in [k for k in self.grades if k[0] == aid]:
                del self.grades[key]
            return {"id": aid, "deleted": True}

    def submit(self, assignment_id, uid, late: bool = False) -> dict:
        with self.lock:
            assignment = self._assignment_or_error(assignment_id)
            self.enrollment_for(assignment["_section_id"], uid)
            return dict(self._add_revision(assignment["id"], str(uid), int(time.time()), bool(late)))

    def grade(self, assignment_id, uid, grade=None, exception: int = 0) -> dict:
        """Grade a student's work (`exception` 1 excused, 2 incomplete, 3 missing: grade becomes null)."""
        with self.lock:
            assignment = self._assignment_or_error(assignment_id)
            enrollment = self.enrollment_for(assignment["_section_id"], uid)
            if exception not in (0, 1, 2, 3):
                raise SandboxError("exception must be 0, 1, 2 or 3")
            if not exception and not isinstance(grade, (int, float)):
                raise SandboxError("grade must be a number")
            return dict(self._set_grade(assignment["id"], enrollment["id"], grade, int(time.time()), exception))

    def archive_section(self, section_id) -> dict:
        """Move a section into the past grading period (what the end of a term does)."""
        with self.lock:
            section = self.sections.get(str(section_id))
            if section is None:
                raise SandboxError(f"no section {section_id}")
            section.update(grading_periods=[PAST_PERIOD_ID], active=0, _past=True)
            return self.public(section)

    def summary(self) -> dict:
        with self.lock:
            return {"courses": len(self.courses), "sections": len(self.sections),
                    "active_sections": self.section_ids(False), "assignments": len(self.assignments),
                    "revisions": len(self.revisions), "grades": len(self.grades), "students": len(self.students)}

