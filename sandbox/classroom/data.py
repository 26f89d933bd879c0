"""Generated Google Classroom data: courses, courseWork, studentSubmissions and daily usage.

Everything is derived from a seed, so two sandboxes with the same arguments hold the
same data. Objects are kept in the JSON shape Google sends (camelCase keys, ids as
strings, zero-valued proto fields left out, times as RFC 3339 with milliseconds and a
``Z``). Changes go through the methods at the bottom, each stamping a new ``updateTime``
later than any before it.
"""
from __future__ import annotations

import hashlib
import threading
from datetime import date, datetime, timedelta, timezone

DEFAULT_ANCHOR = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)
SUBMISSION_STATES = ("NEW", "CREATED", "TURNED_IN", "RETURNED", "RECLAIMED_BY_STUDENT")
COURSE_STATES = ("ACTIVE", "ARCHIVED", "PROVISIONED", "DECLINED", "SUSPENDED")
COURSE_WORK_STATES = ("PUBLISHED", "DRAFT", "DELETED")
# Users usage parameters the sandbox knows (Admin SDK "Users Usage parameters" appendix).
USAGE_PARAMETERS = ("classroom:timestamp_last_interaction", "classroom:num_posts_created",
                    "classroom:num_courses_created", "classroom:role", "classroom:classroom_last_usage_date_usec",
                    "accounts:last_login_time")
CUSTOMER_ID = "C0sandbox"


class SandboxError(LookupError):
    """Unknown id or invalid argument in a change request."""


def rfc3339(moment: datetime) -> str:
    """Google's timestamp form: ``2026-09-01T08:00:00.123Z``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _number(seed: int, *parts) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def google_date(moment: datetime) -> dict:
    return {"year": moment.year, "month": moment.month, "day": moment.day}


def google_time(moment: datetime) -> dict:
    """A TimeOfDay as Google serialises it: zero fields are omitted, so midnight is ``{}``."""
    parts = {"hours": moment.hour, "minutes": moment.minute, "seconds": moment.second}
    return {k: v for k, v in parts.items() if v}


class ClassroomData:
    def __init__(self, courses: int = 2, course_work: int = 6, students: int = 5, usage_users: int | None = None,
                 seed: int = 1, anchor: datetime | None = None, today: date | None = None, usage_lag_days: int = 2,
                 usage_history_days: int = 450, base_url: str = "https://classroom.google.com"):
        self.seed = seed
        self.anchor = anchor or DEFAULT_ANCHOR
        self.lock = threading.RLock()
        self.web_url = base_url
        self._clock = self.anchor
        self.courses: dict[str, dict] = {}
        self.course_work: dict[str, dict[str, dict]] = {}      # course id -> courseWork id -> object
        self.submissions: dict[str, dict[str, dict]] = {}      # course id -> submission id -> object
        self.students = [str(100000000000000000000 + _number(seed, "student", i) % 10 ** 20) for i in range(students)]
        n_usage = students + 1 if usage_users is None else usage_users
        self.usage_emails = [f"user{i + 1}@school.example" for i in range(n_usage)]
        self.today = today or datetime.now(timezone.utc).date()
        self.usage_lag_days = usage_lag_days
        self.usage_history_days = usage_history_days
        self.usage_overrides: dict[tuple[str, str], dict] = {}  # (date iso, email) -> parameter values
        for c in range(courses):
            course = self._make_course(c)
            self.courses[course["id"]] = course
            self.course_work[course["id"]] = {}
            self.submissions[course["id"]] = {}
            for w in range(course_work):
                self._insert_course_work(course["id"], self._make_course_work(course["id"], c, w))
        # Changes are stamped after everything generated, so updateTime only ever grows.
        stamps = [parse_rfc3339(o["updateTime"]) for group in (*self.course_work.values(), *self.submissions.values())
                  for o in group.values()]
        self._clock = max([self.anchor, *stamps])

    # ----------------------------------------------------------------- generation
    def _id(self, *parts, digits: int = 12) -> str:
        return str(10 ** (digits - 1) + _number(self.seed, *parts) % (9 * 10 ** (digits - 1)))

    @property
    def clock(self) -> datetime:
        """The newest updateTime handed out so far."""
        return self._clock

    def _tick(self) -> datetime:
        """A new updateTime, later than every one handed out before (1.5 s apart, milliseconds kept)."""
        self._clock += timedelta(seconds=1, milliseconds=500)
        return self._clock

    def _make_course(self, index: int) -> dict:
        cid = self._id("course", index)
        created = self.anchor - timedelta(days=30 - index)
        state = "ARCHIVED" if index == 2 else "ACTIVE"
        return {
            "id": cid, "name": f"Classroom Course {index + 1}", "section": f"Period {index + 1}",
            "descriptionHeading": f"Welcome to Classroom Course {index + 1}", "room": f"R{100 + index}",
            "ownerId": self._id("teacher", index, digits=21), "creationTime": rfc3339(created),
            "updateTime": rfc3339(created + timedelta(hours=1)), "enrollmentCode": f"abc{index:04d}",
            "courseState": state, "alternateLink": f"{self.web_url}/c/{cid}",
            "teacherGroupEmail": f"course{index + 1}_teachers@school.example",
            "courseGroupEmail": f"course{index + 1}@school.example", "guardiansEnabled": False,
            "calendarId": f"classroom{cid}@group.calendar.google.com",
        }

    def _make_course_work(self, course_id: str, c: int, w: int) -> dict:
        wid = self._id("work", c, w)
        created = self.anchor - timedelta(days=20 - w, hours=c)
        updated = created + timedelta(minutes=5 + w)
        work = {
            "courseId": course_id, "id": wid, "title": f"Work {c + 1}.{w + 1}",
            "description": f"Do exercise {w + 1}.", "state": "PUBLISHED",
            "alternateLink": f"{self.web_url}/c/{course_id}/a/{wid}/details",
            "creationTime": rfc3339(created), "updateTime": rfc3339(updated), "maxPoints": 10 + w % 3 * 5,
            "workType": "ASSIGNMENT", "submissionModificationMode": "MODIFIABLE_UNTIL_TURNED_IN",
            "assigneeMode": "ALL_STUDENTS", "creatorUserId": self.courses[course_id]["ownerId"],
        }
        if w % 4 != 3:  # every fourth one has no due date
            due = self.anchor + timedelta(days=w * 2 - 6, hours=15 + w % 3, minutes=59 if w % 2 else 0)
            work["dueDate"], work["dueTime"] = google_date(due), google_time(due)
        if w % 5 == 4:
            work.pop("maxPoints")  # ungraded work has no maxPoints
        return work

    def _insert_course_work(self, course_id: str, work: dict) -> None:
        self.course_work[course_id][work["id"]] = work
        for s, student in enumerate(self.students):
            sub = self._make_submission(course_id, work, s, student)
            self.submissions[course_id][sub["id"]] = sub

    def _make_submission(self, course_id: str, work: dict, s: int, student: str) -> dict:
        digest = hashlib.sha256(f"{self.seed}:{work['id']}:{student}".encode()).digest()
        sid = "Cg" + digest[:9].hex()  # opaque, like Google's base64 ids
        roll = digest[9] % 4
        created = parse_rfc3339(work["creationTime"])
        sub = {
            "courseId": course_id, "courseWorkId": work["id"], "id": sid, "userId": student,
            "creationTime": rfc3339(created), "updateTime": work["updateTime"], "state": "CREATED",
            "alternateLink": f"{self.web_url}/c/{course_id}/a/{work['id']}/submissions/student/{student}",
            "courseWorkType": work["workType"], "assignmentSubmission": {},
            "submissionHistory": [{"stateHistory": {"state": "CREATED", "stateTimestamp": rfc3339(created),
                                                    "actorUserId": student}}],
        }
        if roll >= 1:
            turned_in = created + timedelta(days=1, minutes=s)
            self._history_state(sub, "TURNED_IN", turned_in, student)
            sub["updateTime"] = rfc3339(max(turned_in, parse_rfc3339(work["updateTime"])))
        if roll == 3 and "maxPoints" in work:
            graded = created + timedelta(days=2, minutes=s)
            self._grade(sub, work, float(work["maxPoints"] - s % 3), graded)
        self._set_late(sub, work)
        return sub

    @staticmethod
    def _history_state(sub: dict, state: str, moment: datetime, actor: str) -> None:
        sub["state"] = state
        sub["submissionHistory"].append({"stateHistory": {"state": state, "stateTimestamp": rfc3339(moment),
                                                          "actorUserId": actor}})

    def _grade(self, sub: dict, work: dict, points: float, moment: datetime) -> None:
        sub["draftGrade"] = points
        sub["assignedGrade"] = points
        self._history_state(sub, "RETURNED", moment, work["creatorUserId"])
        sub["submissionHistory"].append({"gradeHistory": {
            "pointsEarned": points, "maxPoints": work.get("maxPoints"), "gradeTimestamp": rfc3339(moment),
            "actorUserId": work["creatorUserId"], "gradeChangeType": "ASSIGNED_GRADE_POINTS_EARNED_CHANGE"}})
        sub["updateTime"] = rfc3339(moment)

    def _set_late(self, sub: dict, work: dict) -> None:
        """Late: turned in after the due time, or not turned in and the due time has passed."""
        due = due_at(work)
        sub.pop("late", None)
        if due is None:
            return
        turned_in = [parse_rfc3339(h["stateHistory"]["stateTimestamp"]) for h in sub["submissionHistory"]
                     if h.get("stateHistory", {}).get("state") == "TURNED_IN"]
        if (turned_in and turned_in[-1] > due) or (not turned_in and self._clock > due):
            sub["late"] = True

    # ----------------------------------------------------------------- usage
    @property
    def usage_available_through(self) -> date:
        return self.today - timedelta(days=self.usage_lag_days)

    @property
    def usage_first_date(self) -> date:
        return self.today - timedelta(days=self.usage_history_days)

    def usage_reports(self, day: date) -> list[dict]:
        """Every user's report for one date (the Reports API lists each user of the domain)."""
        reports = []
        for i, email in enumerate(self.usage_emails):
            n = _number(self.seed, "usage", email, day.isoformat())
            role = "teacher" if i == 0 else "student"
            active = n % 3 != 0
            start_of_day = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            last = start_of_day + timedelta(hours=8 + n % 9, minutes=n % 60) if active else \
                start_of_day - timedelta(days=1 + n % 5, hours=3)
            values = {
                "classroom:num_posts_created": (n >> 8) % 4 if active else 0,
                "classroom:num_courses_created": 1 if role == "teacher" and (n >> 12) % 20 == 0 else 0,
                "classroom:role": role,
                "classroom:timestamp_last_interaction": int(last.timestamp() * 1_000_000),
                "classroom:classroom_last_usage_date_usec": int(last.timestamp() * 1_000_000),
                "accounts:last_login_time": rfc3339(last - timedelta(minutes=20)),
            }
            values.update(self.usage_overrides.get((day.isoformat(), email), {}))
            reports.append({"email": email, "profile_id": self._id("profile", email, digits=21), "values": values})
        return reports

    # ----------------------------------------------------------------- changes
    def add_course_work(self, course_id: str, **fields) -> dict:
        with self.lock:
            course = self._course(course_id)
            c = list(self.courses).index(course_id)
            work = self._make_course_work(course_id, c, 1000 + len(self.course_work[course_id]))
            moment = self._tick()
            work["creationTime"] = work["updateTime"] = rfc3339(moment)
            _apply(work, fields)
            self.course_work[course["id"]][work["id"]] = work
            for s, student in enumerate(self.students):
                sub = {"courseId": course_id, "courseWorkId": work["id"],
                       "id": "Cg" + hashlib.sha256(f"{self.seed}:{work['id']}:{student}".encode()).hexdigest()[:18],
                       "userId": student, "creationTime": rfc3339(moment), "updateTime": rfc3339(moment),
                       "state": "CREATED", "courseWorkType": work["workType"],
                       "alternateLink": f"{work['alternateLink']}/student/{student}", "assignmentSubmission": {},
                       "submissionHistory": [{"stateHistory": {"state": "CREATED", "stateTimestamp": rfc3339(moment),
                                                               "actorUserId": student}}]}
                self._set_late(sub, work)
                self.submissions[course_id][sub["id"]] = sub
            return work

    def edit_course_work(self, course_id: str, course_work_id: str, **fields) -> dict:
        with self.lock:
            work = self._work(course_id, course_work_id)
            _apply(work, fields)
            work["updateTime"] = rfc3339(self._tick())
            return work

    def grade_submission(self, course_id: str, submission_id: str, points: float) -> dict:
        with self.lock:
            sub = self._submission(course_id, submission_id)
            work = self._work(course_id, sub["courseWorkId"])
            self._grade(sub, work, float(points), self._tick())
            return sub

    def turn_in(self, course_id: str, submission_id: str) -> dict:
        with self.lock:
            sub = self._submission(course_id, submission_id)
            moment = self._tick()
            self._history_state(sub, "TURNED_IN", moment, sub["userId"])
            sub["updateTime"] = rfc3339(moment)
            self._set_late(sub, self._work(course_id, sub["courseWorkId"]))
            return sub

    def rename_course(self, course_id: str, name: str) -> dict:
        with self.lock:
            course = self._course(course_id)
            course["name"] = name
            course["updateTime"] = rfc3339(self._tick())
            return course

    def advance_days(self, days: int) -> date:
        """Move the usage calendar on: ``days`` more dates become available."""
        with self.lock:
            self.today += timedelta(days=int(days))
            return self.today

    def set_usage(self, day: str, email: str, **values) -> dict:
        with self.lock:
            if email not in self.usage_emails:
                raise SandboxError(f"unknown user {email!r}")
            key = (date.fromisoformat(day).isoformat(), email)
            self.usage_overrides.setdefault(key, {}).update(values)
            return {"date": key[0], "email": email, **self.usage_overrides[key]}

    # ----------------------------------------------------------------- lookups
    def _course(self, course_id: str) -> dict:
        try:
            return self.courses[str(course_id)]
        except KeyError:
            raise SandboxError(f"unknown course {course_id!r}") from None

    def _work(self, course_id: str, course_work_id: str) -> dict:
        try:
            return self.course_work[str(course_id)][str(course_work_id)]
        except KeyError:
            raise SandboxError(f"unknown courseWork {course_work_id!r} in course {course_id!r}") from None

    def _submission(self, course_id: str, submission_id: str) -> dict:
        try:
            return self.submissions[str(course_id)][str(submission_id)]
        except KeyError:
            raise SandboxError(f"unknown submission {submission_id!r} in course {course_id!r}") from None

    def summary(self) -> dict:
        with self.lock:
            return {"courses": len(self.courses), "course_work": sum(map(len, self.course_work.values())),
                    "submissions": sum(map(len, self.submissions.values())), "today": self.today.isoformat(),
                    "usage_available_through": self.usage_available_through.isoformat(),
                    "usage_users": len(self.usage_emails)}


def due_at(work: dict) -> datetime | None:
    d = work.get("dueDate")
    if not d:
        return None
    t = work.get("dueTime", {})
    return datetime(d["year"], d["month"], d["day"], t.get("hours", 0), t.get("minutes", 0), t.get("seconds", 0),
                    tzinfo=timezone.utc)


def _apply(work: dict, fields: dict) -> None:
    for key, value in _work_fields(fields).items():
        if value is None:
            work.pop(key, None)
        else:
            work[key] = value


def _work_fields(fields: dict) -> dict:
    """Mutation arguments in Google's shape (``due`` as an ISO time becomes dueDate + dueTime)."""
    out = {k: v for k, v in fields.items() if k in ("title", "description", "maxPoints", "state")}
    if "state" in out and out["state"] not in COURSE_WORK_STATES:
        raise SandboxError(f"unknown courseWork state {out['state']!r}")
    if "due" in fields:
        if fields["due"] is None:
            out["dueDate"] = out["dueTime"] = None
        else:
            due = parse_rfc3339(str(fields["due"]))
            out["dueDate"], out["dueTime"] = google_date(due), google_time(due)
    return out
