"""The baseline: the sync a user would write with the canvasapi library.

Sequential pages (canvasapi's PaginatedList), one submissions call per assignment
(``assignment.get_submissions()``), one ORM ``session.add`` per row and one commit per
course. It writes the same tables as our sync (rows built by the same
``app.services.canvas_streams`` functions) so the two are compared on equal output.
Pages are asked for at ``per_page=100`` (canvasapi passes keyword arguments through),
which is the kindest reading of "what a user would write": the default of 10 would
make ten times the requests.

One more kindness, on by default: stock canvasapi tries ``arrow.get()`` on every
attribute of every object it builds (to add ``*_date`` twins). Profiled here that costs
about 12 ms per submission object (1,000 submissions: 11.7 s of 12.7 s), which would make
the default data set's baseline take over 20 minutes of pure CPU. `lean_objects()` swaps
that one method for a plain attribute copy, so the baseline measures canvasapi's request
pattern and the per-row ORM, not its date parser. The baseline is then *faster* than
what canvasapi users really get, and our speed-up figures understate the gap.
``--stock-canvasapi`` (test_canvas_performance.py) keeps the library untouched.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

from canvasapi import Canvas

from app.models import Assignment, Course, GradeCategory, Submission, Term
from app.services.canvas_streams import assignment_row, course_row, group_row, submission_row, term_row

PER_PAGE = 100


def lean_objects() -> None:
    """canvasapi objects without the per-attribute date parsing (see the module docstring)."""
    from canvasapi.canvas_object import CanvasObject

    def set_attributes(self, attributes):
        for attribute, value in attributes.items():
            setattr(self, attribute, value)

    CanvasObject.set_attributes = set_attributes


def attributes(obj) -> dict:
    """The JSON a canvasapi object was built from (it adds ``*_date`` twins of time fields)."""
    values = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return {k: v for k, v in values.items() if not (k.endswith("_date") and k[:-5] in values)}


def baseline_sync(session, user, base_url: str, token: str) -> dict:
    """Sync every course of `user` the canvasapi way; returns {"rows": n, "requests": n, "seconds": s}."""
    t0 = time.monotonic()
    now = datetime.now(timezone.utc)
    canvas = Canvas(base_url, token)
    requests = 0
    rows = 0

    me = canvas.get_current_user()
    requests += 1
    user.canvas_user_id = me.id
    courses = {}
    for state in (None, "completed"):
        kwargs = {"include": ["term"], "per_page": PER_PAGE}
        if state:
            kwargs["enrollment_state"] = state
        for course in canvas.get_courses(**kwargs):
            courses.setdefault(course.id, course)
    requests += 2  # at least one page per list (exact counts come from the sandbox log)

    terms: dict[int, Term] = {}
    for course in courses.values():
        term = getattr(course, "term", None)
        if isinstance(term, dict) and term.get("id") and term["id"] not in terms:
            obj = Term(**term_row(term, user_id=user.id, now=now))
            session.add(obj)
            terms[term["id"]] = obj
            rows += 1
    session.flush()

    for course in courses.values():
        raw = attributes(course)
        term = raw.get("term")
        local_course = Course(**course_row(raw, user_id=user.id,
                                           term_id=terms[term["id"]].id if isinstance(term, dict) else None,
                                           now=now))
        session.add(local_course)
        session.flush()
        rows += 1
        group_ids = {}
        for group in course.get_assignment_groups(per_page=PER_PAGE):
            obj = GradeCategory(**group_row(attributes(group), course_id=local_course.id, now=now))
            session.add(obj)
            session.flush()
            group_ids[group.id] = obj.id
            rows += 1
        assignment_ids = {}
        for assignment in course.get_assignments(per_page=PER_PAGE):
            obj = Assignment(**assignment_row(attributes(assignment), course_id=local_course.id,
                                              canvas_course_id=course.id, group_ids=group_ids, now=now))
            session.add(obj)
            session.flush()
            assignment_ids[assignment.id] = obj.id
            rows += 1
            if not getattr(assignment, "published", True):
                continue  # students/submissions (what our sync reads) leaves unpublished ones out
            for submission in assignment.get_submissions(per_page=PER_PAGE):
                row = submission_row(attributes(submission), course_id=local_course.id,
                                     assignment_ids=assignment_ids, now=now)
                if row is not None:
                    session.add(Submission(**row))
                    rows += 1
        session.commit()  # one commit per course
    session.commit()
    return {"rows": rows, "seconds": time.monotonic() - t0}
