from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user, login_required

from app.web.planner import bp
from app.web.planner import queries


@bp.before_request
@login_required
def _require_login():
    return None


@bp.route("/")
def index():
    return render_template("planner/upcoming.html", upcoming=queries.upcoming(current_user))


@bp.route("/courses")
def courses():
    return render_template("planner/courses.html", terms=queries.courses_by_term(current_user))


@bp.route("/courses/<int:course_id>")
def course(course_id: int):
    detail = queries.course_detail(current_user, course_id)
    if detail is None:
        abort(404)
    return render_template("planner/course.html", detail=detail)
