"""add_canvas_indexes.py on a populated database without the indexes, on SQLite and MariaDB."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, inspect, select

from app.extensions import db
from app.models import Assignment, Course, Term, User
from app.models.canvas import SYNC_INDEX_NAMES
from app.sync.maintenance import drop_sync_indexes
from tests.helpers import index_names
from tests.conftest import create_mariadb_database, drop_mariadb_database, make_test_app, mariadb_admin_connection

ROOT = Path(__file__).resolve().parent.parent


def run_script(database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "add_canvas_indexes.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _populate() -> None:
    now = datetime.now(timezone.utc)
    user = User(email="rows@example.com", password_hash="x")
    db.session.add(user)
    db.session.flush()
    term = Term(user_id=user.id, canvas_term_id=1, name="Fall", last_synced_canvas=now)
    db.session.add(term)
    db.session.flush()
    course = Course(user_id=user.id, term_id=term.id, canvas_course_id=101, name="Biology", last_synced_canvas=now)
    db.session.add(course)
    db.session.flush()
    db.session.add_all(
        Assignment(course_id=course.id, canvas_assignment_id=1000 + i, canvas_course_id=101, name=f"A{i}")
        for i in range(25)
    )
    db.session.commit()



def test_creates_missing_indexes_keeps_rows_and_is_idempotent(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        assert sorted(drop_sync_indexes(db.engine)) == sorted(SYNC_INDEX_NAMES)
        _populate()
        assert not set(SYNC_INDEX_NAMES) & index_names(db.engine)
        db.session.remove()
        db.engine.dispose()

    first = run_script(empty_database_url)
    assert first.returncode == 0, first.stderr
    assert "10 created, 0 already existed." in first.stdout
    for name in SYNC_INDEX_NAMES:
        assert f"created  {name}" in first.stdout

    with app.app_context():
        assert set(SYNC_INDEX_NAMES) <= index_names(db.engine)
        assert db.session.scalar(select(func.count()).select_from(Assignment)) == 25
        assert db.session.scalar(select(Course.name)) == "Biology"
        db.session.remove()
        db.engine.dispose()

    second = run_script(empty_database_url)
    assert second.returncode == 0, second.stderr
    assert "0 created, 10 already existed." in second.stdout


def test_creates_only_the_missing_ones(empty_database_url):
    app = make_test_app(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP INDEX idx_course_last_synced"
                + (" ON course" if db.engine.dialect.name in ("mysql", "mariadb") else "")
            )
        db.engine.dispose()
    result = run_script(empty_database_url)
    assert result.returncode == 0, result.stderr
    assert "created  idx_course_last_synced" in result.stdout
    assert "1 created, 9 already existed." in result.stdout


def test_missing_tables_is_a_plain_error(empty_database_url):
    result = run_script(empty_database_url)
    assert result.returncode != 0
    assert "flask --app run db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_plain_error():
    result = run_script("mysql+pymysql://root:secret@127.0.0.1:1/nothing")
    assert result.returncode != 0
    assert "Cannot reach the database" in result.stderr
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.mariadb
def test_password_with_hash_sign_works_url_encoded(mariadb_server):
    url = create_mariadb_database(mariadb_server)
    user, password = f"cf_{secrets.token_hex(3)}", "p#ss:w@rd/1"
    conn = mariadb_admin_connection()
    with conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT ALL ON `{url.database}`.* TO '{user}'@'%'")
        cur.execute(f"GRANT ALL ON `{url.database}`.* TO '{user}'@'localhost'")
    try:
        encoded = (f"mysql+pymysql://{user}:{quote(password, safe='')}@{url.host}:{url.port or 3306}"
                   f"/{url.database}?charset=utf8mb4")
        assert "%23" in encoded
        app = make_test_app(encoded)
        with app.app_context():
            upgrade()
            drop_sync_indexes(db.engine)
            db.engine.dispose()
        result = run_script(encoded)
        assert result.returncode == 0, result.stderr
        assert "10 created" in result.stdout
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'localhost'")
        conn.close()
        drop_mariadb_database(url)
