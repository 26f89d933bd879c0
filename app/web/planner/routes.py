from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Course
from app.web.planner import bp


@bp.route("/")
@login_required
def index():
    courses = db.session.scalars(
        select(Course)
        .where(Course.user_id == current_user.id, Course.deleted_at.is_(None))
        .options(selectinload(Course.term))
        .order_by(Course.name)
    ).all()
    return render_template("planner/index.html", courses=courses)
