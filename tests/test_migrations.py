"""The schema comes only from Alembic revisions and they work on SQLite, MariaDB and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, insert, select

from app.extensions import db
from app.models import User
from app.models.canvas import SYNC_INDEX_NAMES
from tests.helpers import index_names
from tests.conftest import make_test_app

TABLES = {"user", "term", "course", "grade_category", "assignment", "submission", "sync_run", "sync_lock",
          "sync_operation", "sync_queue_pause", "service_heartbeat", "sync_alert", "sync_daily_summary"}
TABLES |= {"calendar_feed"}



def test_upgrade_on_empty_database_creates_every_table_and_index(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        assert TABLES <= set(inspect(db.engine).get_table_names())
        assert set(SYNC_INDEX_NAMES) <= index_names(db.engine)
        db.engine.dispose()


def test_models_and_migrations_agree(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert diff == [], f"models differ from migrations: {diff}"


def test_upgrade_on_existing_database_keeps_rows(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        db.session.execute(insert(User).values(email="kept@example.com", password_hash="x", is_admin=False,
                                               created_at=db.func.now()))
        db.session.commit()
        upgrade()  # already at head: a no-op
        assert db.session.scalar(select(User.email)) == "kept@example.com"
        db.session.remove()
        db.engine.dispose()


def test_downgrade_then_upgrade_round_trips(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert not (TABLES & set(inspect(db.engine).get_table_names()))
        upgrade()
        assert TABLES <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_flask_db_upgrade_command(empty_database_url):
    app = make_test_app(empty_database_url)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert "user" in inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_upgrade_from_the_first_revision_keeps_rows(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            user = db.metadata.tables["user"]  # the table as revision 0001 made it
            conn.execute(user.insert().values(email="old@example.com", password_hash="x", is_admin=False,
                                              created_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
        upgrade()
        row = db.session.execute(select(User.email, User.canvas_user_id)).one()
        assert tuple(row) == ("old@example.com", None)
        db.session.remove()
        db.engine.dispose()


def test_raw_json_is_compressed_by_0005_and_restored_by_its_downgrade(empty_database_url):
    from sqlalchemy import text

    from app.models import Course

    raw = '{"id":7,"name":"Biologie \\u00e9t\\u00e9","workflow_state":"available"}'
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as conn:
            conn.execute(insert(User).values(id=1, email="old@example.com", password_hash="x", is_admin=False,
                                             created_at=db.func.now()))
            conn.execute(text("INSERT INTO course (user_id, canvas_course_id, name, apply_assignment_group_weights, "
                              "raw_json, first_seen_at) VALUES (1, 7, 'Bio', :f, :raw, :now)"),
                         {"f": False, "raw": raw, "now": "2026-01-01 00:00:00"})
        upgrade()
        course = db.session.scalars(select(Course)).one()
        assert course.raw_json == raw
        assert len(course.raw_deflate) < len(raw)
        db.session.remove()
        downgrade(revision="0004")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT raw_json FROM course")).scalar() == raw
        db.engine.dispose()
