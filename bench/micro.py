"""DB micro-benchmarks: our bulk upsert vs a raw DBAPI executemany of the same rows, and the
incremental sync's hot queries with and without the 10 sync indexes."""
from __future__ import annotations

import random
import time
from datetime import datetime, timezone

from bench.databases import EMAIL, migrate
from bench.phase import make_app


def upsert_micro(database_url: str, n: int) -> dict:
    """Our bulk upsert of n submission rows vs a raw DBAPI executemany of the same rows."""
    from sqlalchemy import delete, text

    from app.extensions import db
    from app.models import Assignment, Course, Submission, User
    from app.services.canvas_streams import submission_row
    from app.services.upsert import upsert

    app = make_app(database_url)
    migrate(app)
    with app.app_context():
        user = User(email="micro@example.test")
        user.set_password("x")
        db.session.add(user)
        db.session.flush()
        course = Course(user_id=user.id, canvas_course_id=1, name="Micro", content_hash="x", raw_json="{}")
        db.session.add(course)
        db.session.flush()
        assignment = Assignment(course_id=course.id, canvas_assignment_id=1, canvas_course_id=1, name="A",
                                content_hash="x", raw_json="{}")
        db.session.add(assignment)
        db.session.commit()
        now = datetime.now(timezone.utc)
        rows = [submission_row({"id": 1_000_000 + i, "assignment_id": 1, "user_id": 2000 + i, "score": i % 10,
                                "grade": str(i % 10), "submitted_at": "2026-01-01T10:00:00Z",
                                "graded_at": "2026-01-02T10:00:00Z", "workflow_state": "graded",
                                "late": False, "missing": False, "excused": False},
                               course_id=course.id, assignment_ids={1: assignment.id}, now=now) for i in range(n)]
        table = Submission.__table__
        columns = list(rows[0].keys())
        dialect = db.engine.dialect
        procs = [table.c[col].type.bind_processor(dialect) for col in columns]
        tuples = [tuple(p(r[col]) if p else r[col] for p, col in zip(procs, columns)) for r in rows]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"

        def clear():
            db.session.execute(delete(Submission))
            db.session.commit()

        def ours() -> float:
            t0 = time.perf_counter()
            upsert(db.session, Submission, rows, key=("course_id", "canvas_submission_id"), keep=("first_seen_at",))
            db.session.commit()
            return time.perf_counter() - t0

        def raw() -> float:
            conn = db.engine.raw_connection()
            try:
                t0 = time.perf_counter()
                cur = conn.cursor()
                cur.executemany(sql, tuples)
                conn.commit()
                return time.perf_counter() - t0
            finally:
                conn.close()

        timings = {"upsert_insert_s": [], "raw_insert_s": [], "upsert_update_s": []}
        for _ in range(3):
            clear()
            timings["raw_insert_s"].append(raw())
            clear()
            timings["upsert_insert_s"].append(ours())
            timings["upsert_update_s"].append(ours())  # every row conflicts: the update path
        clear()
        count = db.session.scalar(text("SELECT COUNT(*) FROM submission"))
        assert count == 0, count
        db.session.remove()
        db.engine.dispose()
    best = {k: min(v) for k, v in timings.items()}
    best["rows"] = n
    best["ratio"] = best["upsert_insert_s"] / best["raw_insert_s"]
    return best


def index_effect(database_url: str, repeats: int = 5) -> dict:
    """The incremental sync's hot queries with and without the 10 sync indexes."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Assignment, Course, GradeCategory, Submission, User
    from app.sync.maintenance import drop_sync_indexes, ensure_sync_indexes

    app = make_app(database_url)
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == EMAIL))
        courses = db.session.execute(select(Course.id, Course.canvas_course_id).where(Course.user_id == user_id)).all()
        canvas_assignments = db.session.scalars(select(Assignment.canvas_assignment_id)).all()
        rng = random.Random(7)
        lookups = rng.sample(canvas_assignments, min(200, len(canvas_assignments)))

        def sync_queries():
            # what CanvasSyncService runs on an incremental pass (see canvas_sync_service / stream_writer)
            db.session.execute(select(Course.canvas_course_id, Course.id, Course.deleted_at)
                               .where(Course.user_id == user_id)).all()
            db.session.execute(select(Course.canvas_course_id, Assignment.canvas_assignment_id,
                                      Assignment.content_hash).join(Course, Assignment.course_id == Course.id)
                               .where(Course.user_id == user_id, Assignment.deleted_at.is_(None))).all()
            for local_id, _ in courses:
                for model, col in ((GradeCategory, GradeCategory.canvas_group_id),
                                   (Assignment, Assignment.canvas_assignment_id),
                                   (Submission, Submission.canvas_submission_id)):
                    db.session.execute(select(col, model.id, model.content_hash, model.deleted_at)
                                       .where(model.course_id == local_id)).all()

        def id_lookups():
            # Canvas-id lookups (live events, single-course re-sync) the indexes are named for
            for aid in lookups:
                db.session.execute(select(Assignment.id, Assignment.course_id)
                                   .where(Assignment.canvas_assignment_id == aid)).all()
            for _, cid in courses:
                db.session.execute(select(Course.id).where(Course.canvas_course_id == cid)).all()

        def best(fn) -> float:
            fn()  # warm the cache
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            db.session.rollback()
            return min(times)

        with_idx = {"sync": best(sync_queries), "lookups": best(id_lookups)}
        db.session.remove()
        dropped = drop_sync_indexes(db.engine)
        without = {"sync": best(sync_queries), "lookups": best(id_lookups)}
        db.session.remove()
        report = ensure_sync_indexes(db.engine)
        db.session.remove()
        db.engine.dispose()
    assert len(dropped) == 10 and len(report.created) == 10, (dropped, report)
    return {"sync_with_s": with_idx["sync"], "sync_without_s": without["sync"],
            "sync_ratio": without["sync"] / with_idx["sync"],
            "lookups_with_s": with_idx["lookups"], "lookups_without_s": without["lookups"],
            "lookups_ratio": without["lookups"] / with_idx["lookups"], "lookups": len(lookups) + len(courses)}
