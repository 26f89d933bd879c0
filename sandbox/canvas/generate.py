"""Deterministic generation of the sandbox's Canvas data (users, terms, courses, groups,
assignments, discussions); mixed into ``CanvasData``. Submissions are generated lazily per
course in ``submissions.py``.
"""
from __future__ import annotations

import random
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from zoneinfo import ZoneInfo

from . import clock
from .constants import COURSE_ID_BASE, GROUP_ID_BASE, SELF_USER_ID, STUDENT_ID_BASE

# The zone of the sandbox's courses and its teacher (profile time_zone): deadlines are 23:59 here.
COURSE_ZONE = ZoneInfo("America/Denver")

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


class CanvasGenerator:
    """Builds the generated records into the attributes ``CanvasData.__init__`` sets up."""

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
            "time_zone": COURSE_ZONE.key, "default_view": "modules",
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
                # 23:59 in the course's zone on the evening before `day` (or the one after), as a
                # Canvas teacher sets it: 05:59 UTC in summer time, 06:59 UTC in winter.
                evening = datetime.fromtimestamp(day, timezone.utc).date() - timedelta(days=1)
                if rng.random() < 0.5:
                    evening += timedelta(days=1)
                due = datetime.combine(evening, dt_time(23, 59), tzinfo=COURSE_ZONE).timestamp()
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
