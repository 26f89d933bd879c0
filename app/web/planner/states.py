"""What one assignment's submission means to the person planning: pure functions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SUBMITTED_STATES = {"submitted", "pending_review", "graded"}


@dataclass(frozen=True)
class SubmissionState:
    key: str  # graded, submitted, late, missing, excused, todo, overdue
    label: str
    score: float | None = None
    done: bool = False  # nothing left to do for the student

    @property
    def overdue(self) -> bool:
        return self.key in ("overdue", "missing")


def own_state(sub, due_at: datetime | None, now: datetime, points: float | None = None) -> SubmissionState:
    """State of the student's own submission (``sub`` may be None: nothing submitted)."""
    past_due = due_at is not None and due_at < now
    if sub is None:
        return SubmissionState("overdue", "Overdue", done=False) if past_due else SubmissionState("todo", "To do")
    if sub.excused:
        return SubmissionState("excused", "Excused", done=True)
    graded = sub.score is not None and (sub.workflow_state == "graded" or sub.graded_at is not None
                                         or sub.workflow_state is None)
    if graded:
        late = " (late)" if sub.late else ""
        return SubmissionState("graded", f"Graded{late}", score=sub.score, done=True)
    if sub.missing:
        return SubmissionState("missing", "Missing")
    if sub.submitted_at is not None or sub.workflow_state in SUBMITTED_STATES:
        if sub.late:
            return SubmissionState("late", "Submitted late", done=True)
        return SubmissionState("submitted", "Submitted", done=True)
    if past_due:
        return SubmissionState("overdue", "Overdue")
    return SubmissionState("todo", "To do")


@dataclass(frozen=True)
class ClassState:
    """A teacher's view of one assignment: how far the class is."""

    students: int
    submitted: int
    graded: int

    @property
    def label(self) -> str:
        if not self.students:
            return "No submissions yet"
        return f"{self.graded}/{self.students} graded · {self.submitted} submitted"
