from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import Assignment, Course
from app.models.canvas import CANVAS, SOURCE_NAMES
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_errors import CanvasAPIError
from app.services.canvas_planner import CanvasPlanner, set_local_mark
from app.web.planner import bp
from app.web.planner import queries
from app.web.planner.forms import DoneForm

MAX_SEARCH = 100


@bp.before_request
@login_required
def _require_login():
    return None


def planner_filter() -> queries.PlannerFilter:
    """The filter from the query string; anything unknown is ignored rather than refused."""
    args = request.args
    course_id = args.get("course", type=int)
    source = args.get("source") if args.get("source") in SOURCE_NAMES else None
    state = args.get("state") if args.get("state") in queries.STATE_CHOICES else None
    return queries.PlannerFilter(course_id=course_id, source=source, state=state,
                                 search=(args.get("q") or "").strip()[:MAX_SEARCH])


def _filter_context(selected: queries.PlannerFilter) -> dict:
    courses, sources = queries.filter_choices(current_user)
    return {"filter": selected, "filter_courses": courses, "filter_sources": sources,
            "state_choices": queries.STATE_CHOICES, "source_names": SOURCE_NAMES, "done_form": DoneForm()}


@bp.route("/")
def index():
    days = request.args.get("days", type=int)
    days = days if days in queries.AHEAD_CHOICES else queries.UPCOMING_DAYS
    selected = planner_filter()
    return render_template("planner/upcoming.html",
                           upcoming=queries.upcoming(current_user, days=days, planner_filter=selected),
                           ahead_choices=queries.AHEAD_CHOICES, **_filter_context(selected))


@bp.route("/missing")
def missing():
    selected = planner_filter()
    return render_template("planner/missing.html", items=queries.missing(current_user, planner_filter=selected),
                           **_filter_context(selected))


@bp.route("/courses")
def courses():
    return render_template("planner/courses.html", terms=queries.courses_by_term(current_user))


@bp.route("/courses/<int:course_id>")
def course(course_id: int):
    detail = queries.course_detail(current_user, course_id)
    if detail is None:
        abort(404)
    return render_template("planner/course.html", detail=detail, done_form=DoneForm())


@bp.route("/assignments/<int:assignment_id>/done", methods=["POST"])
def mark_done(assignment_id: int):
    """Done or not done: in Canvas's own planner for a Canvas assignment, here for the others."""
    form = DoneForm()
    if not form.validate_on_submit():
        abort(400)
    row = db.session.execute(
        select(Assignment, Course.source_system)
        .join(Course, Course.id == Assignment.course_id)
        .where(Assignment.id == assignment_id, Course.user_id == current_user.id, Course.deleted_at.is_(None),
               Assignment.deleted_at.is_(None))).first()
    if row is None:
        abort(404)
    assignment, source = row
    done = form.done.data == "1"
    if (source or CANVAS) == CANVAS:
        try:
            with CanvasAPIService.for_user(current_user, timeout=10.0, max_retries=1, page_workers=1) as api:
                CanvasPlanner(db.session, api, current_user).set_done(assignment, done)
        except CanvasAPIError as exc:
            db.session.rollback()
            flash(f"Canvas did not save that: {exc}", "error")
            return redirect(_back())
    else:
        set_local_mark(db.session, current_user, assignment, done)
    db.session.commit()
    flash(f"“{assignment.name}” marked {'done' if done else 'not done'}.", "success")
    return redirect(_back())


def _back() -> str:
    """Where the form came from, if it is one of our own pages; Upcoming otherwise."""
    target = request.form.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else url_for("planner.index")
