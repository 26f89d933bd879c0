"""The planner's reads: a few aggregate queries per page, never one query per course.

"Own" submissions: the synced user may be a student (Canvas returns only their own
submissions) or a teacher (Canvas returns every student's). When the user's Canvas id
is known (``User.canvas_user_id``) their rows are the ones with that id; until it is
known, a course whose submissions all belong to one Canvas user is taken to be that
user's own. Otherwise the pages show class-level figures instead.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, case, distinct, false, func, or_, select, true

from app.extensions import db
from app.models import Assignment, Course, GradeCategory, PlannerMark, Submission, SyncRun, Term, UserConnection
from app.models.canvas import CANVAS, derived_id
from app.web.filters import to_local, user_zone
from app.web.planner.grades import CategoryTotal, GradedItem, GradeResult, course_grade, grade_from_items
from app.web.planner.states import ClassState, SubmissionState, own_state

UPCOMING_DAYS = 14
OVERDUE_LOOKBACK_DAYS = 14


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def own_canvas_id(user) -> int | None:
    return getattr(user, "canvas_user_id", None)


def _live_course(user_id: int):
    return and_(Course.user_id == user_id, Course.deleted_at.is_(None))


def _visible_assignment():
    return and_(Assignment.deleted_at.is_(None),
                or_(Assignment.published.is_(None), Assignment.published == true()))


def _counting_submission():
    return and_(Submission.deleted_at.is_(None), Submission.score.is_not(None),
                or_(Submission.excused.is_(None), Submission.excused == false()))


def _graded_expr():
    return and_(Submission.score.is_not(None), or_(Submission.excused.is_(None), Submission.excused == false()))


def _submitted_expr():
    return or_(Submission.submitted_at.is_not(None),
               Submission.workflow_state.in_(("submitted", "pending_review", "graded")))


def student_view_courses(user, course_filter=None) -> dict[int, int | None]:
    """course id -> the Canvas user whose own submissions the page shows (student view).

    Courses left out get class figures (a teacher's view: several students' submissions).
    """
    own_id = own_canvas_id(user)
    stmt = (
        select(Course.id, func.count(distinct(Submission.canvas_user_id)), func.min(Submission.canvas_user_id),
               Course.source_system)
        .outerjoin(Submission, and_(Submission.course_id == Course.id, Submission.deleted_at.is_(None)))
        .where(_live_course(user.id))
        .group_by(Course.id, Course.source_system)
    )
    if course_filter is not None:
        stmt = stmt.where(course_filter)
    result = {}
    rows = db.session.execute(stmt).all()
    source_ids = own_source_ids(user.id) if any(row[3] not in (None, CANVAS) for row in rows) else {}
    for course_id, submitters, some_user, source in rows:
        if source not in (None, CANVAS):
            # The user's Canvas id means nothing in Classroom or Schoology. When the source
            # named whose credentials these are (Schoology's users/me), only that id is the
            # user's; otherwise one submitter is the user (a student's token sees only their
            # own work). Several submitters make a class.
            own_source_id = source_ids.get(source)
            if submitters == 0:
                result[course_id] = None
            elif submitters == 1 and (own_source_id is None or some_user == own_source_id):
                result[course_id] = some_user
        elif own_id is not None:
            if submitters == 0 or (submitters == 1 and some_user == own_id):
                result[course_id] = own_id
        elif submitters == 1:
            result[course_id] = some_user
    return result


def own_source_ids(user_id: int) -> dict[str, int]:
    """system -> the user's own id in that system as the rows carry it (derived_id), for the
    connections whose pull named it (``own_user_id`` in the connection's state)."""
    out = {}
    for system, state_json in db.session.execute(
            select(UserConnection.system, UserConnection.state_json).where(UserConnection.user_id == user_id)):
        try:
            own = json.loads(state_json).get("own_user_id") if state_json else None
        except (ValueError, AttributeError):
            own = None
        if own not in (None, ""):
            out[system] = derived_id(system, str(own))
    return out


# --- Upcoming and Missing ---------------------------------------------------------------

AHEAD_CHOICES = (7, 14, 30)
STATE_CHOICES = {"todo": "To do", "overdue": "Overdue or missing", "done": "Done"}


@dataclass(frozen=True)
class PlannerFilter:
    """What the lists are narrowed to: one course, one source system, one state, a title search."""

    course_id: int | None = None
    source: str | None = None
    state: str | None = None  # a key of STATE_CHOICES
    search: str = ""

    @property
    def active(self) -> bool:
        return bool(self.course_id or self.source or self.state or self.search)

    def where(self):
        clauses = []
        if self.course_id:
            clauses.append(Course.id == self.course_id)
        if self.source:
            clauses.append(Course.source_system == self.source)
        if self.search:
            # A plain substring, its LIKE wildcards escaped: a title search, not a pattern language.
            needle = self.search.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
            clauses.append(func.lower(Assignment.name).like(f"%{needle}%", escape="/"))
        return and_(true(), *clauses)

    def keeps(self, item) -> bool:
        if not self.state:
            return True
        if self.state == "done":
            return item.done
        if self.state == "overdue":
            return item.overdue
        return not item.done and not item.overdue


@dataclass
class UpcomingItem:
    assignment_id: int
    name: str
    due_at: datetime
    points_possible: float | None
    html_url: str | None
    course_id: int
    course_name: str
    course_code: str | None
    source_system: str = CANVAS  # where the assignment comes from: its badge
    state: SubmissionState | None = None
    class_state: ClassState | None = None
    marked_done: bool = False  # the user's own "done" (Canvas's planner override, or kept here)

    @property
    def overdue(self) -> bool:
        return not self.marked_done and self.state is not None and self.state.overdue

    @property
    def done(self) -> bool:
        return self.marked_done or (self.state is not None and self.state.done)


@dataclass
class UpcomingDay:
    day: date
    items: list[UpcomingItem] = field(default_factory=list)


@dataclass
class Upcoming:
    days: list[UpcomingDay]
    overdue: list[UpcomingItem]
    start: datetime
    end: datetime
    ahead: int = UPCOMING_DAYS

    @property
    def count(self) -> int:
        return sum(len(d.items) for d in self.days)


def _item_rows(user, *window, planner_filter: PlannerFilter | None = None) -> list[UpcomingItem]:
    rows = db.session.execute(
        select(Assignment.id, Assignment.name, Assignment.due_at, Assignment.points_possible,
               Assignment.html_url, Course.id, Course.name, Course.course_code, Course.source_system)
        .join(Course, Course.id == Assignment.course_id)
        .where(_live_course(user.id), _visible_assignment(), *window,
               (planner_filter or PlannerFilter()).where())
        .order_by(Assignment.due_at, Course.name, Assignment.name)
    ).all()
    items = [UpcomingItem(*row) for row in rows]
    _attach_states(user, items, and_(*window))
    marks = planner_marks(user, [item.assignment_id for item in items])
    for item in items:
        item.marked_done = marks.get(item.assignment_id, False)
    return items


def planner_marks(user, assignment_ids) -> dict[int, bool]:
    """assignment id -> the user's done mark, for those that have one."""
    ids = list(assignment_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        select(PlannerMark.assignment_id, PlannerMark.done)
        .where(PlannerMark.user_id == user.id, PlannerMark.assignment_id.in_(ids))).all())


def local_day_start(moment: datetime, zone) -> datetime:
    """Midnight of the moment's day in that zone, as a UTC instant."""
    local = moment.astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone).astimezone(timezone.utc)


def upcoming(user, now: datetime | None = None, days: int = UPCOMING_DAYS,
             planner_filter: PlannerFilter | None = None) -> Upcoming:
    """Work due from now until the end of the user's local day ``days`` ahead, grouped by local
    day, and the overdue work of the last OVERDUE_LOOKBACK_DAYS (all of it is on Missing)."""
    now = now or utcnow()
    planner_filter = planner_filter or PlannerFilter()
    zone = user_zone(user)
    start = now - timedelta(days=OVERDUE_LOOKBACK_DAYS)
    end = local_day_start(now + timedelta(days=days + 1), zone)
    items = _item_rows(user, Assignment.due_at >= start, Assignment.due_at < end, planner_filter=planner_filter)

    by_day: dict[date, UpcomingDay] = {}
    overdue: list[UpcomingItem] = []
    for item in items:
        if not planner_filter.keeps(item):
            continue
        if item.due_at < now:
            if item.overdue:
                overdue.append(item)
            continue
        day = to_local(item.due_at, zone).date()
        by_day.setdefault(day, UpcomingDay(day)).items.append(item)
    return Upcoming(list(by_day.values()), overdue, now, end, days)


def missing(user, now: datetime | None = None, planner_filter: PlannerFilter | None = None) -> list[UpcomingItem]:
    """Every missing or overdue assignment of the user, whatever its age, newest deadline first.

    Work the user marked done is left out unless the filter asks for done work."""
    now = now or utcnow()
    planner_filter = planner_filter or PlannerFilter()
    items = _item_rows(user, Assignment.due_at.is_not(None), Assignment.due_at < now, planner_filter=planner_filter)
    if planner_filter.state == "done":
        kept = [item for item in items if item.marked_done and item.state is not None and item.state.overdue]
    else:
        kept = [item for item in items if item.overdue and planner_filter.keeps(item)]
    kept.sort(key=lambda item: item.due_at, reverse=True)
    return kept


def filter_choices(user) -> tuple[list[tuple[int, str]], list[str]]:
    """The user's live courses (id, name) and the source systems they come from, for the filter form."""
    rows = db.session.execute(
        select(Course.id, Course.name, Course.source_system).where(_live_course(user.id)).order_by(Course.name)
    ).all()
    return [(cid, name) for cid, name, _ in rows], sorted({src or CANVAS for _, _, src in rows})


def _attach_states(user, items: list, assignment_filter) -> None:
    """Set ``state`` (own submission) or ``class_state`` on items, in two or three queries."""
    if not items:
        return
    now = utcnow()
    base = (
        select(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(Course, Course.id == Assignment.course_id)
        .where(_live_course(user.id), Submission.deleted_at.is_(None), assignment_filter)
    )
    course_ids = {item.course_id for item in items}
    own_by_course = student_view_courses(user, Course.id.in_(course_ids))
    own_rows = {}
    own_ids = {uid for uid in own_by_course.values() if uid is not None}
    if own_ids:
        for sub in db.session.scalars(base.where(Submission.canvas_user_id.in_(own_ids))):
            if own_by_course.get(sub.course_id) == sub.canvas_user_id:
                own_rows[sub.assignment_id] = sub
    class_courses = course_ids - set(own_by_course)
    aggregates = {}
    if class_courses:
        aggregates = {
            row[0]: ClassState(row[1], int(row[2] or 0), int(row[3] or 0))
            for row in db.session.execute(
                select(Submission.assignment_id, func.count(distinct(Submission.canvas_user_id)),
                       func.sum(case((_submitted_expr(), 1), else_=0)),
                       func.sum(case((_graded_expr(), 1), else_=0)))
                .join(Assignment, Assignment.id == Submission.assignment_id)
                .join(Course, Course.id == Assignment.course_id)
                .where(_live_course(user.id), Submission.deleted_at.is_(None), assignment_filter,
                       Course.id.in_(class_courses))
                .group_by(Submission.assignment_id)
            )
        }
    for item in items:
        if item.course_id in own_by_course:
            item.state = own_state(own_rows.get(item.assignment_id), item.due_at, now, item.points_possible)
        else:
            item.class_state = aggregates.get(item.assignment_id, ClassState(0, 0, 0))


# --- Courses ----------------------------------------------------------------------------

@dataclass
class CourseGrade:
    result: GradeResult | None
    scope: str  # "own", "class", "none"
    students: int = 0
    # A student's own current score as Canvas computes it (include[]=total_scores): it
    # knows drop rules and late policies we do not, so it wins over our own sum.
    canvas_percent: float | None = None

    @property
    def percent(self) -> float | None:
        if self.canvas_percent is not None:
            return self.canvas_percent
        return self.result.percent if self.result else None

    def with_canvas_score(self, score: float | None) -> CourseGrade:
        """The user's own score from Canvas, for a course where the page shows their own work."""
        if score is None or self.scope == "class":
            return self
        return CourseGrade(self.result, "own", 1, canvas_percent=score)


@dataclass
class CourseSummary:
    course: Course
    grade: CourseGrade


@dataclass
class TermGroup:
    name: str
    term: Term | None
    courses: list[CourseSummary]


def _grade_from_totals(per_user: dict[int, dict], weights: dict, weighted: bool,
                       own_id: int | None) -> CourseGrade:
    def one(categories: dict) -> GradeResult:
        totals = {key: CategoryTotal(key, weight) for key, weight in weights.items()}
        for key, total in categories.items():
            target = totals.setdefault(key, CategoryTotal(key, weights.get(key)))
            target.earned += total.earned
            target.possible += total.possible
            target.graded += total.graded
        return course_grade(totals.values(), weighted)

    if own_id is not None and own_id in per_user:
        return CourseGrade(one(per_user[own_id]), "own", 1)
    if own_id is None and len(per_user) == 1:
        return CourseGrade(one(next(iter(per_user.values()))), "own", 1)
    if not per_user:
        return CourseGrade(course_grade([], weighted), "none", 0)
    results = [one(categories) for categories in per_user.values()]
    percents = [r.percent for r in results if r.percent is not None]
    mean = sum(percents) / len(percents) if percents else None
    method = results[0].method
    return CourseGrade(GradeResult(mean, method), "class", len(per_user))


def course_grades(user, course_filter=None) -> dict[int, CourseGrade]:
    """Current grade of every live course of the user (or those matching course_filter): 3 queries."""
    courses = db.session.execute(
        select(Course.id, Course.apply_assignment_group_weights, Course.own_current_score,
               Course.source_system).where(
            _live_course(user.id), *(() if course_filter is None else (course_filter,)))
    ).all()
    weights: dict[int, dict] = defaultdict(dict)
    stmt = (select(GradeCategory.id, GradeCategory.course_id, GradeCategory.weight)
            .join(Course, Course.id == GradeCategory.course_id)
            .where(_live_course(user.id), GradeCategory.deleted_at.is_(None)))
    if course_filter is not None:
        stmt = stmt.where(course_filter)
    for gid, cid, weight in db.session.execute(stmt):
        weights[cid][gid] = weight
    live_categories = {gid for per in weights.values() for gid in per}

    # course -> canvas user -> category -> totals of graded work
    totals: dict[int, dict[int, dict]] = defaultdict(lambda: defaultdict(dict))
    stmt = (
        select(Assignment.course_id, Assignment.grade_category_id, Submission.canvas_user_id,
               func.sum(Submission.score), func.sum(func.coalesce(Assignment.points_possible, 0.0)),
               func.count())
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(Course, Course.id == Assignment.course_id)
        .where(_live_course(user.id), _visible_assignment(), _counting_submission())
        .group_by(Assignment.course_id, Assignment.grade_category_id, Submission.canvas_user_id)
    )
    if course_filter is not None:
        stmt = stmt.where(course_filter)
    for cid, gid, canvas_user, earned, possible, graded in db.session.execute(stmt):
        key = gid if gid in live_categories else None
        entry = totals[cid][canvas_user].setdefault(key, CategoryTotal(key))
        entry.earned += float(earned or 0)
        entry.possible += float(possible or 0)
        entry.graded += int(graded or 0)

    own_id = own_canvas_id(user)
    # Another source's ids are not Canvas ids: there the id the source named (own_source_ids),
    # else a lone submitter, is the user.
    source_ids = own_source_ids(user.id) if any(c[3] not in (None, CANVAS) for c in courses) else {}
    return {
        cid: _grade_from_totals(totals.get(cid, {}), weights.get(cid, {}), bool(weighted),
                                own_id if source in (None, CANVAS) else source_ids.get(source))
        .with_canvas_score(own_score)
        for cid, weighted, own_score, source in courses
    }


def courses_by_term(user) -> list[TermGroup]:
    courses = db.session.execute(
        select(Course, Term)
        .outerjoin(Term, and_(Term.id == Course.term_id, Term.deleted_at.is_(None)))
        .where(_live_course(user.id))
        .order_by(Term.start_at.desc(), Term.name, Course.name)
    ).all()
    grades = course_grades(user)
    groups: dict[object, TermGroup] = {}
    for course, term in courses:
        key = term.id if term else None
        group = groups.get(key)
        if group is None:
            group = groups[key] = TermGroup(term.name if term else "No term", term, [])
        group.courses.append(CourseSummary(course, grades[course.id]))
    return [g for k, g in groups.items() if k is not None] + ([groups[None]] if None in groups else [])


# --- One course -------------------------------------------------------------------------

@dataclass
class AssignmentRow:
    assignment: Assignment
    state: SubmissionState | None = None
    class_state: ClassState | None = None
    marked_done: bool = False

    @property
    def done(self) -> bool:
        return self.marked_done or (self.state is not None and self.state.done)

    @property
    def overdue(self) -> bool:
        return not self.marked_done and self.state is not None and self.state.overdue

    # the attributes _attach_states reads
    @property
    def assignment_id(self): return self.assignment.id
    @property
    def course_id(self): return self.assignment.course_id
    @property
    def due_at(self): return self.assignment.due_at
    @property
    def points_possible(self): return self.assignment.points_possible


@dataclass
class CategoryBlock:
    category: GradeCategory | None
    rows: list[AssignmentRow]
    percent: float | None = None

    @property
    def name(self) -> str:
        return self.category.name if self.category else "Other"

    @property
    def weight(self) -> float | None:
        return self.category.weight if self.category else None


@dataclass
class CourseDetail:
    course: Course
    blocks: list[CategoryBlock]
    grade: CourseGrade


def course_detail(user, course_id: int) -> CourseDetail | None:
    course = db.session.scalar(
        select(Course).where(Course.id == course_id, _live_course(user.id))
    )
    if course is None:
        return None
    categories = db.session.scalars(
        select(GradeCategory)
        .where(GradeCategory.course_id == course.id, GradeCategory.deleted_at.is_(None))
        .order_by(GradeCategory.position, GradeCategory.name)
    ).all()
    assignments = db.session.scalars(
        select(Assignment)
        .where(Assignment.course_id == course.id, Assignment.deleted_at.is_(None))
        .order_by(Assignment.due_at.is_(None), Assignment.due_at, Assignment.name)
    ).all()
    rows = [AssignmentRow(a) for a in assignments]
    _attach_states(user, rows, Assignment.course_id == course.id)
    marks = planner_marks(user, [a.id for a in assignments])
    for row in rows:
        row.marked_done = marks.get(row.assignment.id, False)

    weights = {c.id: c.weight for c in categories}
    blocks = {c.id: CategoryBlock(c, []) for c in categories}
    other = CategoryBlock(None, [])
    for row in rows:
        blocks.get(row.assignment.grade_category_id, other).rows.append(row)

    # Grade: own items when the page shows own states, class average otherwise.
    own_items = [
        GradedItem(r.assignment.grade_category_id if r.assignment.grade_category_id in weights else None,
                   r.assignment.points_possible, r.state.score,
                   excused=(r.state.key == "excused"), published=r.assignment.published is not False)
        for r in rows if r.state is not None
    ]
    weighted = bool(course.apply_assignment_group_weights)
    if own_items:
        result = grade_from_items(own_items, weights, weighted)
        grade = CourseGrade(result, "own", 1).with_canvas_score(course.own_current_score)
        for block in blocks.values():
            total = result.categories.get(block.category.id)
            block.percent = total.percent if total else None
        other_total = result.categories.get(None)
        other.percent = other_total.percent if other_total else None
    else:
        grade = course_grades(user, Course.id == course.id)[course.id]
    ordered = list(blocks.values()) + ([other] if other.rows else [])
    return CourseDetail(course, ordered, grade)


# --- Sync runs --------------------------------------------------------------------------

def last_runs_by_user() -> dict[int, SyncRun]:
    latest = (select(SyncRun.user_id, func.max(SyncRun.id).label("run_id"))
              .group_by(SyncRun.user_id).subquery())
    runs = db.session.scalars(select(SyncRun).join(latest, latest.c.run_id == SyncRun.id)).all()
    return {run.user_id: run for run in runs}
