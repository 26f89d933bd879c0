"""Submissions: compact per-course columns, their lazy deterministic generation, and the
reads that turn rows into API dicts (``SubmissionStore``, mixed into ``CanvasData``).
"""
from __future__ import annotations

import bisect
import math
from array import array
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from . import clock
from .constants import SELF_USER_ID, STUDENT_ID_BASE
from .errors import SandboxError

NO_SUBMISSION_TYPES = ({"none"}, {"on_paper"}, {"not_graded"}, {"external_tool"})

# submission workflow_state codes in the compact columns
UNSUBMITTED, SUBMITTED, GRADED, PENDING_REVIEW = 0, 1, 2, 3
STATE_NAMES = ("unsubmitted", "submitted", "graded", "pending_review")
# flag bits
F_EXCUSED = 1
F_STALE_GRADE = 2  # resubmitted after grading: grade_matches_current_submission false


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


class SubmissionStore:
    """Lazy per-course submission columns and the submission reads of ``CanvasData``."""

    # ------------------------------------------------------------ generation (lazy)
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
