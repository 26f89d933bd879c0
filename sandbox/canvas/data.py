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

import bisect
import math
import random
import threading
import uuid as uuidlib
from array import array
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from . import clock

SELF_USER_ID = 1
STUDENT_ID_BASE = 2001
COURSE_ID_BASE = 101
GROUP_ID_BASE = 501
ASSIGNMENT_ID_BASE = 10001
SUBMISSION_ID_BASE = 1_000_001
TOPIC_ID_BASE = 70001
ENTRY_ID_BASE = 80001
ACCOUNT_ID = 1

SUBJECTS = [
    ("Computer Science", "CS"), ("Biology", "BIO"), ("Chemistry", "CHEM"), ("Physics", "PHYS"),
    ("Mathematics", "MATH"), ("English Literature", "ENGL"), ("World History", "HIST"),
    ("Psychology", "PSYC"), ("Economics", "ECON"), ("Art History", "ARTH"), ("Philosophy", "PHIL"),
    ("Statistics", "STAT"), ("Sociology", "SOC"), ("Political Science", "POLS"), ("Spanish", "SPAN"),
    ("Music Theory", "MUS"), ("Environmental Science", "ENVS"), ("Linguistics", "LING"),
    ("Anthropology", "ANTH"), ("Astronomy", "ASTR"), ("Geology", "GEOL"), ("French", "FREN"),
    ("Nursing", "NURS"), ("Accounting", "ACCT"), ("Marketing", "MKTG"), ("Data Science", "DATA"),
    ("Film Studies", "FILM"), ("Mechanical Engineering", "ME"), ("Electrical Engineering", "EE"),
    ("Public Health", "PH"),
]
LEVELS = [101, 102, 110, 201, 202, 220, 301, 310, 350, 401]
FIRST_NAMES = [
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sophia", "Elijah", "Isabella", "Lucas",
    "Mia", "Amir", "Harper", "Kenji", "Amara", "Diego", "Chloe", "Ravi", "Zoe", "Omar",
    "Priya", "Jonah", "Leila", "Felix", "Nora", "Tariq", "Hana", "Samuel", "Ines", "Malik",
    "Yara", "Theo", "Aiko", "Gabriel", "Freya", "Kofi", "Lucia", "Ethan", "Mei", "Oscar",
]
LAST_NAMES = [
    "Garcia", "Nguyen", "Smith", "Okafor", "Kim", "Patel", "Johnson", "Rossi", "Haddad", "Silva",
    "Kowalski", "Tanaka", "Brown", "Mensah", "Novak", "Lopez", "Schmidt", "Ali", "Dubois", "Chen",
    "Ivanova", "Murphy", "Sato", "Costa", "Andersen", "Khan", "Walker", "Moreau", "Fischer", "Reyes",
]
TOPICS = [
    "Foundations", "Review", "Case Study", "Applications", "Problem Set", "Reading Response",
    "Analysis", "Reflection", "Fieldwork", "Modeling", "Research Proposal", "Synthesis",
    "Critical Thinking", "Data Collection", "Peer Review", "Presentation",
]
# (group name, assignment noun, possible points, submission types, relative frequency)
GROUP_TEMPLATES = [
    ("Homework", "Homework", (10, 20, 25), ["online_upload", "online_text_entry"], 40),
    ("Quizzes", "Quiz", (10, 15, 20), ["online_quiz"], 25),
    ("Labs", "Lab", (25, 50), ["online_upload"], 15),
    ("Projects", "Project", (100,), ["online_upload", "online_url"], 8),
    ("Exams", "Exam", (100, 150), ["on_paper"], 7),
    ("Participation", "Participation", (5, 10), ["none"], 5),
]
NO_SUBMISSION_TYPES = ({"none"}, {"on_paper"}, {"not_graded"}, {"external_tool"})

# submission workflow_state codes in the compact columns
UNSUBMITTED, SUBMITTED, GRADED, PENDING_REVIEW = 0, 1, 2, 3
STATE_NAMES = ("unsubmitted", "submitted", "graded", "pending_review")
# flag bits
F_EXCUSED = 1
F_STALE_GRADE = 2  # resubmitted after grading: grade_matches_current_submission false


class SandboxError(LookupError):
    """Raised by the mutation API for unknown ids or invalid arguments."""


def fmt_score(score: float | None) -> str | None:
    """Canvas renders a points grade as the score, integers without a decimal point."""
    if score is None:
        return None
    if float(score).is_integer():
        return str(int(score))
    return repr(round(float(score), 2))


def expects_submission(submission_types: Iterable[str]) -> bool:
    return set(submission_types) not in NO_SUBMISSION_TYPES


@dataclass
class CourseSubmissions:
    """Compact, column-oriented submissions of one course.

    Row ``r`` belongs to assignment ``assignment_ids[r // n_students]`` and student index
    ``r % n_students``; its id is ``sub_base[a_pos] + s_idx``. Ids grow with the row index, so
    id order is row order and a bookmark is a binary search.
    """

    n_students: int
    assignment_ids: list[int] = field(default_factory=list)
    apos: dict[int, int] = field(default_factory=dict)
    sub_base: list[int] = field(default_factory=list)
    score: array = field(default_factory=lambda: array("d"))
    submitted_at: array = field(default_factory=lambda: array("d"))
    graded_at: array = field(default_factory=lambda: array("d"))
    state: array = field(default_factory=lambda: array("B"))
    flags: array = field(default_factory=lambda: array("B"))
    attempt: array = field(default_factory=lambda: array("B"))
    version: int = 0
    _graded_order: tuple[int, list, list] | None = None

    def rows(self) -> int:
        return len(self.state)

    def row_of(self, assignment_id: int, s_idx: int) -> int:
        return self.apos[assignment_id] * self.n_students + s_idx

    def row_id(self, r: int) -> int:
        return self.sub_base[r // self.n_students] + r % self.n_students

    def row_for_id(self, sub_id: int) -> int | None:
        a_pos = bisect.bisect_right(self.sub_base, sub_id) - 1
        if a_pos < 0:
            return None
        s_idx = sub_id - self.sub_base[a_pos]
        if s_idx >= self.n_students:
            return None
        return a_pos * self.n_students + s_idx

    def graded_order(self) -> tuple[list, list]:
        """Rows sorted by (graded_at asc nulls last, id), cached until the next change."""
        cached = self._graded_order
        if cached is not None and cached[0] == self.version:
            return cached[1], cached[2]
        inf = math.inf
        keys = []
        n = self.n_students
        for r in range(self.rows()):
            g = self.graded_at[r]
            keys.append((g if g else inf, self.sub_base[r // n] + r % n, r))
        keys.sort()
        order = [k[2] for k in keys]
        sort_keys = [(k[0], k[1]) for k in keys]
        self._graded_order = (self.version, order, sort_keys)
        return order, sort_keys


class CanvasData:
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
        self._generate()

    # ------------------------------------------------------------------ generation
    def _rng(self, *parts) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    def _generate(self) -> None:
        rng = self._rng("base")
        a = self.anchor
        self.self_user = self._user(SELF_USER_ID, "Jordan", "Ellis", created=a - 900 * clock.DAY)
        self.self_user.update({
            "login_id": "jellis", "email": "jordan.ellis@sandbox.example.edu", "locale": None,
            "effective_locale": "en", "time_zone": "America/Denver", "bio": None,
        })
        names = [(f, l) for f in FIRST_NAMES for l in LAST_NAMES]
        rng.shuffle(names)
        for i in range(self.n_students):
            first, last = names[i % len(names)]
            if i >= len(names):
                last = f"{last}-{i // len(names) + 1}"
            self.students.append(self._user(STUDENT_ID_BASE + i, first, last,
                                            created=a - (400 - i % 300) * clock.DAY))

        # two terms: the current one contains the anchor, the past one ended a month before it
        cur_start = a - 45 * clock.DAY
        cur_end = a + 75 * clock.DAY
        past_start = cur_start - 150 * clock.DAY
        past_end = cur_start - 30 * clock.DAY
        self.terms[1] = self._term(1, past_start, past_end)
        self.terms[2] = self._term(2, cur_start, cur_end)

        combos = [(s, lv) for s in SUBJECTS for lv in LEVELS]
        rng.shuffle(combos)
        n_past = max(1, self.n_courses // 5) if self.n_courses >= 2 else 0
        for i in range(self.n_courses):
            (subject, code), level = combos[i % len(combos)]
            name = f"{subject} {level}"
            course_code = f"{code} {level}"
            if i >= len(combos):
                name += f" (Section {i // len(combos) + 1})"
                course_code += f"-{i // len(combos) + 1}"
            term = self.terms[1] if i >= self.n_courses - n_past else self.terms[2]
            self._generate_course(COURSE_ID_BASE + i, name, course_code, term)

        # submission ids are allocated per course in course order, contiguous blocks
        for cid in self.courses:
            self._course_sub_base[cid] = self._next_submission_id
            self._next_submission_id += len(self._course_assignments[cid]) * self.n_students

    def _user(self, uid: int, first: str, last: str, created: float) -> dict:
        return {
            "id": uid, "name": f"{first} {last}", "created_at": clock.iso(created),
            "sortable_name": f"{last}, {first}", "short_name": f"{first} {last}",
            "first_name": first, "last_name": last, "sis_user_id": None, "integration_id": None,
            "login_id": f"{first[0].lower()}{last.lower()}{uid}",
            "avatar_url": "https://canvas.instructure.com/images/messages/avatar-50.png",
        }

    def _term(self, tid: int, start: float, end: float) -> dict:
        month = int(clock.iso(start)[5:7])
        year = clock.iso(start)[:4]
        season = "Spring" if month <= 4 else ("Summer" if month <= 7 else "Fall")
        return {
            "id": tid, "name": f"{season} {year}", "start_at": clock.iso(start), "end_at": clock.iso(end),
            "created_at": clock.iso(start - 60 * clock.DAY), "workflow_state": "active",
            "grading_period_group_id": None, "_start_ts": start, "_end_ts": end,
        }

    def _generate_course(self, cid: int, name: str, course_code: str, term: dict) -> None:
        rng = self._rng("course", cid)
        weighted = rng.random() < 0.5
        start, end = term["_start_ts"], term["_end_ts"]
        self.courses[cid] = {
            "id": cid, "name": name, "course_code": course_code, "enrollment_term_id": term["id"],
            "start_at": term["start_at"], "end_at": term["end_at"],
            "created_at": clock.iso(start - rng.randint(20, 60) * clock.DAY),
            "uuid": uuidlib.UUID(int=rng.getrandbits(128), version=4).hex[:40],
            "apply_assignment_group_weights": weighted, "workflow_state": "available",
            "time_zone": "America/Denver", "default_view": "modules",
        }
        self.enrolled.add(cid)

        # assignment groups: always Homework and Quizzes, then a few more
        templates = GROUP_TEMPLATES[:2] + rng.sample(GROUP_TEMPLATES[2:], rng.randint(1, 3))
        weights = self._weights(rng, len(templates)) if weighted else [0.0] * len(templates)
        gids = []
        for pos, (tpl, weight) in enumerate(zip(templates, weights), start=1):
            gid = GROUP_ID_BASE + len(self.groups)
            rules = {"drop_lowest": 1} if tpl[0] == "Homework" and rng.random() < 0.5 else {}
            self.groups[gid] = {
                "id": gid, "course_id": cid, "name": tpl[0], "position": pos, "group_weight": weight,
                "sis_source_id": None, "integration_data": {}, "rules": rules, "_template": tpl,
            }
            gids.append(gid)
        self._course_groups[cid] = gids

        # assignments spread over the term
        freq = [self.groups[g]["_template"][4] for g in gids]
        counters: dict[int, int] = {}
        aids = []
        n = self.n_assignments
        term_len = end - start
        for i in range(n):
            gid = gids[i] if i < len(gids) and n >= len(gids) else rng.choices(gids, weights=freq)[0]
            tpl = self.groups[gid]["_template"]
            counters[gid] = counters.get(gid, 0) + 1
            k = counters[gid]
            due = None
            if rng.random() >= 0.08:
                day = clock.day_floor(start + (i + 0.5) / max(n, 1) * term_len + rng.uniform(-2, 2) * clock.DAY)
                due = day + 5 * 3600 + 59 * 60 + (clock.DAY if rng.random() < 0.5 else 0)  # 23:59 Denver
            created = start - rng.uniform(3, 14) * clock.DAY + i * 3600
            updated = min(self.anchor - 3600, created + rng.uniform(0, 30) * clock.DAY)
            aid = self._next_assignment_id
            self._next_assignment_id += 1
            record = {
                "id": aid, "course_id": cid, "assignment_group_id": gid,
                "name": f"{tpl[1]} {k}: {rng.choice(TOPICS)}",
                "description": f"<p>{tpl[1]} {k} for {name}.</p>",
                "position": k, "points_possible": float(rng.choice(tpl[2])), "grading_type": "points",
                "submission_types": list(tpl[3]), "due_at": None, "unlock_at": None, "lock_at": None,
                "created_at": clock.iso(created), "updated_at": clock.iso(updated),
                "published": rng.random() >= 0.06, "_due_ts": None, "_created_ts": created,
            }
            self._set_due(record, due)
            self.assignments[aid] = record
            aids.append(aid)
        self._course_assignments[cid] = aids

        # discussions
        tids = []
        for t in range(self._topics_per_course):
            tid = self._next_topic_id
            self._next_topic_id += 1
            posted = start + (t + 1) * 9 * clock.DAY + rng.uniform(0, 3) * clock.DAY
            posted = min(posted, self.anchor - 2 * clock.DAY)
            self.topics[tid] = {
                "id": tid, "course_id": cid, "title": f"Week {t * 3 + 1} discussion: {rng.choice(TOPICS)}",
                "message": f"<p>Share your thoughts on {rng.choice(TOPICS).lower()} in {name}.</p>",
                "user_id": SELF_USER_ID, "posted_at": clock.iso(posted), "created_at": clock.iso(posted),
                "last_reply_at": None, "published": True, "pinned": t == 0, "locked": False,
                "discussion_type": "threaded", "assignment_id": None, "delayed_post_at": None,
                "lock_at": None, "require_initial_post": False,
            }
            tids.append(tid)
            eids = []
            t_entry = posted
            for _ in range(rng.randint(0, 4) if self.students else 0):
                t_entry = min(t_entry + rng.uniform(0.1, 2) * clock.DAY, self.anchor - 60)
                student = rng.choice(self.students)
                eid = self._next_entry_id
                self._next_entry_id += 1
                self.entries[eid] = {
                    "id": eid, "topic_id": tid, "user_id": student["id"], "user_name": student["name"],
                    "parent_id": None, "message": f"<p>{rng.choice(TOPICS)} matters because ...</p>",
                    "created_at": clock.iso(t_entry), "updated_at": clock.iso(t_entry),
                    "rating_count": None, "rating_sum": None,
                }
                eids.append(eid)
                self.topics[tid]["last_reply_at"] = clock.iso(t_entry)
            self._topic_entries[tid] = eids
        self._course_topics[cid] = tids

    @staticmethod
    def _weights(rng: random.Random, k: int) -> list[float]:
        parts = [rng.randint(2, 8) for _ in range(k)]
        total = sum(parts)
        weights = [round(p * 100 / total / 5) * 5 for p in parts]
        weights = [max(w, 5) for w in weights]
        weights[0] += 100 - sum(weights)
        return [float(w) for w in weights]

    @staticmethod
    def _set_due(record: dict, due: float | None) -> None:
        record["_due_ts"] = due
        record["due_at"] = clock.iso(due)

    # ------------------------------------------------------------ submissions (lazy)
    def _course_subs(self, cid: int) -> CourseSubmissions:
        subs = self._subs.get(cid)
        if subs is None:
            with self.lock:
                subs = self._subs.get(cid)
                if subs is None:
                    subs = self._materialize(cid)
                    self._subs[cid] = subs
        return subs

    def _materialize(self, cid: int) -> CourseSubmissions:
        """Generate one course's submissions from the assignments as first generated."""
        S = self.n_students
        subs = CourseSubmissions(n_students=S)
        rng = self._rng("subs", cid)
        rand = rng.random
        anchor = self.anchor
        diligence = [0.72 + 0.26 * self._rng("student", s["id"]).random() for s in self.students]
        base = self._course_sub_base[cid]
        gen_aids = [aid for aid in self._course_assignments[cid]]
        for a_pos, aid in enumerate(gen_aids):
            a = self.assignments.get(aid) or self.deleted_assignments[aid]
            subs.assignment_ids.append(aid)
            subs.apos[aid] = a_pos
            subs.sub_base.append(base + a_pos * S)
            score, sub_at, graded, state, flags, attempt = self._generate_rows(a, S, diligence, rand, anchor)
            subs.score.extend(score)
            subs.submitted_at.extend(sub_at)
            subs.graded_at.extend(graded)
            subs.state.extend(state)
            subs.flags.extend(flags)
            subs.attempt.extend(attempt)
        return subs

    @staticmethod
    def _generate_rows(a: dict, S: int, diligence: list[float], rand, anchor: float):
        nan = math.nan
        score = array("d", [nan]) * S
        sub_at = array("d", bytes(8 * S))
        graded = array("d", bytes(8 * S))
        state = array("B", bytes(S))
        flags = array("B", bytes(S))
        attempt = array("B", bytes(S))
        if not a["published"] or S == 0:
            return score, sub_at, graded, state, flags, attempt
        due = a["_due_ts"]
        ref = due if due is not None else a["_created_ts"] + 20 * clock.DAY
        points = a["points_possible"] or 0.0
        expects = expects_submission(a["submission_types"])
        quiz = "online_quiz" in a["submission_types"]
        latest = anchor - 60.0
        day = clock.DAY
        if ref > anchor:  # not due yet: a few early submissions
            if expects:
                for s in range(S):
                    if rand() < 0.12 * diligence[s]:
                        t = anchor - rand() * 3 * day
                        if t > a["_created_ts"]:
                            sub_at[s] = int(t)
                            state[s] = SUBMITTED
                            attempt[s] = 1
            return score, sub_at, graded, state, flags, attempt
        for s in range(S):
            r = rand()
            dil = diligence[s]
            if r < 0.03:  # excused
                flags[s] = F_EXCUSED
                state[s] = GRADED
                graded[s] = int(min(ref + (1 + rand() * 5) * day, latest))
                continue
            if expects:
                if r > dil:  # never submitted: missing, sometimes given a zero
                    if rand() < 0.3:
                        score[s] = 0.0
                        state[s] = GRADED
                        graded[s] = int(min(ref + (1 + rand() * 6) * day, latest))
                    continue
                late = rand() < 0.12
                t = ref + (60 + rand() * 3 * day) if late else ref - rand() * 4 * day
                t = min(t, latest - 3600)
                sub_at[s] = int(t)
                attempt[s] = 2 if rand() < 0.1 else 1
                if quiz and rand() < 0.04:
                    state[s] = PENDING_REVIEW
                    continue
                g = max(t, ref) + 3600 + rand() * 6 * day
            else:
                g = ref + 3600 + rand() * 6 * day
            if g < latest and rand() < 0.9:
                frac = min(1.0, max(0.0, 0.55 + 0.4 * dil + (rand() - 0.5) * 0.3))
                score[s] = round(points * frac * 2) / 2
                state[s] = GRADED
                graded[s] = int(g)
            elif expects:
                state[s] = SUBMITTED
        return score, sub_at, graded, state, flags, attempt

    # ------------------------------------------------------------------ reading
    def enrollment_state(self, cid: int) -> str:
        """The token user's enrollment state in a course: active, or completed once its term ended."""
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

    def submission_row(self, cid: int, r: int, subs: CourseSubmissions | None = None) -> dict:
        """The API JSON of one submission row (core fields, no ``include[]`` extras)."""
        subs = subs or self._course_subs(cid)
        n = subs.n_students
        a_pos, s_idx = divmod(r, n)
        aid = subs.assignment_ids[a_pos]
        a = self.assignments.get(aid) or self.deleted_assignments.get(aid)
        sc = subs.score[r]
        score = None if sc != sc else sc
        st = subs.state[r]
        sub_at = subs.submitted_at[r] or None
        graded_at = subs.graded_at[r] or None
        fl = subs.flags[r]
        excused = bool(fl & F_EXCUSED)
        due = a["_due_ts"]
        seconds_late = int(sub_at - due) if (sub_at and due is not None and sub_at > due) else 0
        missing = (not excused and sub_at is None and st != GRADED and due is not None
                   and due < clock.now() and expects_submission(a["submission_types"]))
        user_id = STUDENT_ID_BASE + s_idx
        grade = None if excused else fmt_score(score)
        return {
            "id": subs.sub_base[a_pos] + s_idx,
            "user_id": user_id,
            "assignment_id": aid,
            "score": score,
            "grade": grade,
            "entered_score": score,
            "entered_grade": grade,
            "submitted_at": clock.iso(sub_at),
            "graded_at": clock.iso(graded_at),
            "posted_at": clock.iso(graded_at),
            "grader_id": SELF_USER_ID if graded_at else None,
            "workflow_state": STATE_NAMES[st],
            "late": seconds_late > 0,
            "missing": missing,
            "excused": excused,
            "attempt": subs.attempt[r] or None,
            "seconds_late": seconds_late,
            "submission_type": (a["submission_types"][0] if sub_at else None),
            "cached_due_date": a["due_at"],
            "grade_matches_current_submission": not bool(fl & F_STALE_GRADE),
            "late_policy_status": None,
            "points_deducted": None,
            "grading_period_id": None,
            "extra_attempts": None,
            "redo_request": False,
            "body": None,
            "url": None,
            "custom_grade_status_id": None,
            "sticker": None,
            "preview_url": (f"{self.base_url}/courses/{a['course_id']}/assignments/{aid}/submissions/"
                            f"{user_id}?preview=1&version={max(subs.attempt[r], 1)}"),
        }

    def iter_submissions(self, course_id: int | None = None, published_only: bool = False) -> Iterator[dict]:
        """Submission dicts in id order for one course (or all courses), deleted assignments excluded."""
        cids = [course_id] if course_id is not None else list(self.courses)
        for cid in cids:
            with self.lock:
                subs = self._course_subs(cid)
                rows = []
                for a_pos, aid in enumerate(subs.assignment_ids):
                    a = self.assignments.get(aid)
                    if a is None or (published_only and not a["published"]):
                        continue
                    start = a_pos * subs.n_students
                    rows.extend(self.submission_row(cid, r, subs) for r in range(start, start + subs.n_students))
            yield from rows

    def get_submission(self, assignment_id: int, user_id: int) -> dict:
        a = self._assignment(assignment_id)
        s_idx = self.student_index(user_id)
        if s_idx is None:
            raise SandboxError(f"no student {user_id}")
        with self.lock:
            subs = self._course_subs(a["course_id"])
            return self.submission_row(a["course_id"], subs.row_of(assignment_id, s_idx), subs)

    def submission_count(self, published_only: bool = False) -> int:
        """How many submissions exist (without materializing them)."""
        n = 0
        for a in self.assignments.values():
            if a["published"] or not published_only:
                n += self.n_students
        return n

    def needs_grading_count(self, assignment_id: int) -> int:
        a = self.assignments[assignment_id]
        subs = self._course_subs(a["course_id"])
        start = subs.apos[assignment_id] * subs.n_students
        st = subs.state[start:start + subs.n_students]
        return st.count(SUBMITTED) + st.count(PENDING_REVIEW)

    def has_submissions(self, assignment_id: int) -> tuple[bool, bool]:
        """(has_submitted_submissions, graded_submissions_exist) for an assignment."""
        a = self.assignments[assignment_id]
        subs = self._course_subs(a["course_id"])
        start = subs.apos[assignment_id] * subs.n_students
        end = start + subs.n_students
        submitted = any(subs.submitted_at[start:end])
        graded = GRADED in subs.state[start:end]
        return submitted, graded

    # ------------------------------------------------------------- change simulation
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

    # discussions
    def create_topic(self, course_id: int, title: str, message: str, published: bool = True,
                     user_id: int = SELF_USER_ID) -> dict:
        with self.lock:
            cid = self._course(course_id)["id"]
            now = clock.iso(clock.now())
            tid = self._next_topic_id
            self._next_topic_id += 1
            self.topics[tid] = {
                "id": tid, "course_id": cid, "title": title, "message": message, "user_id": user_id,
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
                    t[key] = value
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
                "parent_id": parent_id, "message": message, "created_at": now, "updated_at": now,
                "rating_count": None, "rating_sum": None,
            }
            self._topic_entries[t["id"]].append(eid)
            t["last_reply_at"] = now
            return self.entries[eid]

    def update_entry(self, entry_id: int, message: str) -> dict:
        with self.lock:
            e = self.entries.get(int(entry_id))
            if e is None:
                raise SandboxError(f"no entry {entry_id}")
            e["message"] = message
            e["updated_at"] = clock.iso(clock.now())
            return e

    def summary(self) -> dict:
        return {
            "seed": self.seed, "anchor": clock.iso(self.anchor), "courses": len(self.courses),
            "enrolled": sorted(self.enrolled), "assignments": len(self.assignments),
            "students": self.n_students, "submissions": self.submission_count(),
            "terms": [{k: v for k, v in t.items() if not k.startswith("_")} for t in self.terms.values()],
        }
