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

TABLES = {"user", "term", "course", "grade_category", "assignment", "submission", "sync_run", "sync_lock", "sync_bookmark",
          "sync_operation", "sync_queue_pause", "service_heartbeat", "sync_alert", "sync_daily_summary", "user_connection"}
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


def test_0006_seeds_bookmarks_from_the_last_successful_sync(empty_database_url):
    from sqlalchemy import text

    from app.models import SyncBookmark

    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.begin() as conn:
            for uid, synced in ((1, "2026-11-30 08:00:00"), (2, None)):
                conn.execute(text("INSERT INTO \"user\" (id, email, password_hash, is_admin, created_at, "
                                  "last_synced_canvas) VALUES (:id, :email, 'x', :f, :now, :synced)"
                                  .replace('"user"', "`user`" if conn.dialect.name in ("mysql", "mariadb")
                                           else '"user"')),
                             {"id": uid, "email": f"u{uid}@example.com", "f": False, "now": "2026-01-01 00:00:00",
                              "synced": synced})
            for cid, uid, deleted in ((7, 1, None), (8, 1, "2026-11-01 00:00:00"), (9, 2, None)):
                conn.execute(text("INSERT INTO course (user_id, canvas_course_id, name, "
                                  "apply_assignment_group_weights, first_seen_at, deleted_at) "
                                  "VALUES (:uid, :cid, 'C', :f, :now, :deleted)"),
                             {"uid": uid, "cid": cid, "f": False, "now": "2026-01-01 00:00:00", "deleted": deleted})
        upgrade()
        rows = db.session.execute(select(SyncBookmark.user_id, SyncBookmark.stream, SyncBookmark.partition_key,
                                         SyncBookmark.value, SyncBookmark.needs_full)).all()
        when = datetime(2026, 11, 30, 8, tzinfo=timezone.utc)
        assert sorted(tuple(r) for r in rows) == [(1, "course", "7", when, False), (1, "courses", "", when, False)]
        db.session.remove()
        downgrade(revision="0005")
        assert "sync_bookmark" not in inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_0007_marks_existing_rows_canvas_and_its_downgrade_drops_other_sources(empty_database_url):
    from sqlalchemy import text

    from app.models import Course

    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.begin() as conn:
            conn.execute(insert(User).values(id=1, email="old@example.com", password_hash="x", is_admin=False,
                                             created_at=db.func.now()))
            conn.execute(text("INSERT INTO course (user_id, canvas_course_id, name, apply_assignment_group_weights, "
                              "first_seen_at) VALUES (1, 7, 'Bio', :f, :now)"), {"f": False, "now": "2026-01-01"})
        upgrade()
        assert db.session.execute(select(Course.source_system, Course.external_id)).one() == ("canvas", None)
        # the widened key: the same number from another source is another course
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO course (user_id, canvas_course_id, name, apply_assignment_group_weights, "
                              "first_seen_at, source_system, external_id) "
                              "VALUES (1, 7, 'Algebra', :f, :now, 'schoology', '7')"),
                         {"f": False, "now": "2026-01-01"})
        db.session.remove()
        downgrade(revision="0005")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM course")).scalars().all() == ["Bio"]
            assert "user_connection" not in inspect(conn).get_table_names()
        db.engine.dispose()


def test_0015_keys_existing_canvas_rows_by_their_owners_instance(empty_database_url):
    import sqlalchemy as sa

    from app.models import HubCourseLink, HubEntityMap

    def table(name, *columns):
        return sa.table(name, *(sa.column(c) for c in columns))

    user = table("user", "id", "email", "password_hash", "is_admin", "created_at", "canvas_base_url")
    course = table("course", "id", "user_id", "canvas_course_id", "name", "apply_assignment_group_weights",
                   "first_seen_at")
    topic = table("discussion_topic", "id", "course_id", "title", "body_html", "origin_system",
                  "updated_by_system", "created_at", "updated_at")
    post = table("discussion_post", "id", "topic_id", "body_html", "origin_system", "updated_by_system",
                 "created_at", "updated_at")
    link = table("hub_course_link", "id", "course_id", "system", "container_id", "created_at")
    entity_map = table("hub_entity_map", "id", "entity_type", "local_id", "system", "external_id", "last_deleted",
                       "synced_vector_json", "synced_at")
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade(revision="0012_session_security")
        with db.engine.begin() as conn:
            for uid, url in ((1, "https://School.Instructure.com/"), (2, "http://127.0.0.1:8765")):
                conn.execute(user.insert().values(id=uid, email=f"u{uid}@example.com", password_hash="x",
                                                  is_admin=False, created_at=when, canvas_base_url=url))
                conn.execute(course.insert().values(id=uid, user_id=uid, canvas_course_id=100 + uid, name="C",
                                                    apply_assignment_group_weights=False, first_seen_at=when))
                conn.execute(topic.insert().values(id=uid, course_id=uid, title="T", body_html="", created_at=when,
                                                   origin_system="canvas", updated_by_system="canvas",
                                                   updated_at=when))
                conn.execute(post.insert().values(id=uid, topic_id=uid, body_html="", created_at=when,
                                                  origin_system="canvas", updated_by_system="canvas",
                                                  updated_at=when))
            rows = [(1, 1, "canvas", "101"), (2, 1, "discourse", "55"), (3, 2, "canvas", "102")]
            for row_id, course_id, system, container in rows:
                conn.execute(link.insert().values(id=row_id, course_id=course_id, system=system,
                                                  container_id=container, created_at=when))
            maps = [(1, "discussion_topic", 1, "canvas", "66871"), (2, "discussion_post", 1, "canvas", "66871:9"),
                    (3, "discussion_topic", 1, "discourse", "70"), (4, "discussion_post", 2, "canvas", "66872:9")]
            for row_id, entity_type, local_id, system, external_id in maps:
                conn.execute(entity_map.insert().values(id=row_id, entity_type=entity_type, local_id=local_id,
                                                        system=system, external_id=external_id, last_deleted=False,
                                                        synced_vector_json="{}", synced_at=when))
        upgrade()
        assert dict(db.session.execute(select(HubCourseLink.id, HubCourseLink.instance)).all()) == {
            1: "school.instructure.com", 2: "", 3: "127.0.0.1:8765"}
        assert dict(db.session.execute(select(HubEntityMap.id, HubEntityMap.instance)).all()) == {
            1: "school.instructure.com", 2: "school.instructure.com", 3: "", 4: "127.0.0.1:8765"}
        # The widened key: the same bare course id in another instance is another link.
        db.session.add(HubCourseLink(id=4, course_id=2, system="discourse", instance="", container_id="56"))
        db.session.execute(sa.update(HubCourseLink).where(HubCourseLink.id == 3).values(container_id="101"))
        db.session.commit()
        # Down and up again (without the row the older key cannot hold): filled the same way.
        db.session.execute(sa.update(HubCourseLink).where(HubCourseLink.id == 3).values(container_id="102"))
        db.session.commit()
        db.session.remove()
        downgrade(revision="0012_session_security")
        upgrade()
        assert db.session.get(HubCourseLink, 3).instance == "127.0.0.1:8765"
        db.session.remove()
        db.engine.dispose()
