"""The Canvas sync beside other sources' rows: it keys and deletes only Canvas's own courses."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Course
from app.sync.connectors.base import Change
from app.sync.sources.store import SourceStore
from tests.helpers import fast_service, make_canvas_user


def test_full_canvas_sync_leaves_classroom_and_schoology_courses_alone(app, canvas_sandbox):
    user = make_canvas_user(canvas_sandbox)
    some_canvas_id = min(canvas_sandbox.data.enrolled)
    for system in ("classroom", "schoology"):
        # The same id as a Canvas course: the per-source key keeps them apart.
        SourceStore(db.session, user.id, system).store(
            [Change(system, "course", str(some_canvas_id), data={"name": f"{system} course", "raw": {}})])
    result = fast_service(user).sync_all_data()
    assert result.ok, result.error
    assert result.counts["courses"].deleted == 0
    others = db.session.execute(select(Course.source_system, Course.deleted_at)
                                .where(Course.source_system != "canvas")).all()
    assert sorted(others) == [("classroom", None), ("schoology", None)]
    canvas_courses = db.session.scalar(select(func.count()).select_from(Course).where(
        Course.source_system == "canvas", Course.deleted_at.is_(None)))
    assert canvas_courses == len(canvas_sandbox.data.enrolled)
