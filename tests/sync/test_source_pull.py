"""The "source_pull" queue kind: a connection's pull through the queue, its status in plain words, scheduling."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import Assignment, Course, SyncOperation, User, UserConnection
from app.models.types import utcnow
from app.sync import queue
from app.sync.connectors import registry
from app.sync.connectors.base import Change, Connector, ConnectorRegistry
from app.sync.connectors import CONNECTOR_MODULES
from app.sync.connectors.sources import create_source_connector, register_source_connectors
from app.sync.errors import PermanentError, TransientError
from app.sync.scheduler import due_source_pulls, run_due_source_pulls
from app.sync.jobs.source_pull import SOURCE_PULL, request_pull

TOKEN = "ya29.classroom-secret-token-WXYZ"
DUE = utcnow() + timedelta(days=2)


class RecordingConnector(Connector):
    """An in-test connector: records how it was built and pulled, yields a small course."""

    name = "classroom"
    writable = False
    built: list = []

    def __init__(self, credentials, http_session, settings, *, fail=None):
        self.credentials, self.http_session, self.settings, self.fail = credentials, http_session, settings, fail
        self.state = None
        RecordingConnector.built.append(self)

    def pull(self, since):
        self.since = since
        if self.fail:
            raise self.fail
        yield Change("classroom", "course", "C1", data={"name": "Biology", "raw": {"id": "C1"}})
        yield Change("classroom", "assignment", "W1", parent_external_id="C1",
                     data={"name": "Essay", "due_at": DUE, "raw": {"id": "W1"}})
        if since is None:
            yield Change("classroom", "snapshot_complete", "C1", data={"entity_types": ["assignment", "submission"]})
            yield Change("classroom", "snapshot_complete", "", data={"entity_types": ["course"]})
        self.state = {"last_update_time": "2026-12-01T08:00:00Z"}


@pytest.fixture
def connector_factory(monkeypatch):
    RecordingConnector.built = []
    outcome = {"fail": None}

    def factory(credentials, http_session, settings):
        return RecordingConnector(credentials, http_session, settings, fail=outcome["fail"])

    monkeypatch.setitem(registry._factories, "classroom", factory)
    return outcome


def _connection(system="classroom") -> UserConnection:
    user = User(email=f"{system}@example.edu", password_hash="x")
    db.session.add(user)
    db.session.flush()
    connection = UserConnection(user_id=user.id, system=system, base_url="http://127.0.0.1:9/classroom")
    connection.set_credentials({"access_token": TOKEN}, hint_from="access_token")
    db.session.add(connection)
    db.session.commit()
    return connection


def _run_queue() -> SyncOperation:
    queue.process_available(db.session, worker_id="test", kinds=[SOURCE_PULL])
    db.session.expire_all()
    return db.session.scalars(select(SyncOperation).order_by(SyncOperation.id.desc())).first()


def test_credentials_are_encrypted_and_hinted(app):
    connection = _connection()
    assert TOKEN not in connection.credentials_encrypted
    assert connection.credentials == {"access_token": TOKEN}
    assert connection.credentials_hint == "WXYZ"
    assert TOKEN not in repr(connection)


def test_a_queued_pull_stores_rows_and_records_success(app, connector_factory):
    connection = _connection()
    op, joined = request_pull(connection, notify=False)
    again, joined_again = request_pull(connection, notify=False)
    assert not joined and joined_again and again.id == op.id  # one open pull per connection

    op = _run_queue()
    assert op.status == SyncOperation.COMPLETED, op.error_message
    assert op.result["assignments"]["created"] == 1
    [built] = RecordingConnector.built
    assert built.credentials == {"access_token": TOKEN}
    assert isinstance(built.http_session, requests.Session) and built.since is None
    assert built.settings["state"] == {} and built.settings["classroom_url"] == "http://127.0.0.1:9/classroom"
    connection = db.session.get(UserConnection, connection.id)
    assert connection.status == UserConnection.OK and connection.last_error is None
    assert connection.last_success_at is not None and connection.last_full_pull_at is not None
    assert connection.state == {"last_update_time": "2026-12-01T08:00:00Z"}
    assert "1 courses (1 new), 1 assignments (1 new)" in connection.last_counts["summary"]
    assert db.session.scalar(select(Course.source_system)) == "classroom"


def test_the_next_pull_is_incremental_with_the_saved_state(app, connector_factory):
    connection = _connection()
    request_pull(connection, notify=False)
    _run_queue()
    first_success = db.session.get(UserConnection, connection.id).last_success_at
    request_pull(db.session.get(UserConnection, connection.id), notify=False)
    op = _run_queue()
    assert op.status == SyncOperation.COMPLETED
    second = RecordingConnector.built[-1]
    assert second.since == first_success - timedelta(minutes=5)
    assert second.settings["state"] == {"last_update_time": "2026-12-01T08:00:00Z"}
    assert op.result["kind"] == "incremental" and op.result["assignments"]["unchanged"] == 1
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 1


def test_rejected_credentials_fail_at_once_in_plain_words(app, connector_factory):
    connection = _connection()
    connector_factory["fail"] = PermanentError("Google Classroom rejected the access token (401). "
                                               "Connect Google Classroom again in Settings.")
    request_pull(connection, notify=False)
    op = _run_queue()
    assert op.status == SyncOperation.FAILED and op.attempts == 1
    connection = db.session.get(UserConnection, connection.id)
    assert connection.status == UserConnection.FAILED
    assert connection.last_error.startswith("Google Classroom rejected the access token")
    assert TOKEN not in connection.last_error and TOKEN not in (op.error_message or "")


def test_an_outage_is_retried_and_the_stored_data_kept(app, connector_factory):
    connection = _connection()
    request_pull(connection, notify=False)
    _run_queue()
    connector_factory["fail"] = requests.ConnectionError("connection refused")
    request_pull(db.session.get(UserConnection, connection.id), full=True, notify=False)
    op = _run_queue()
    assert op.status == SyncOperation.PENDING and op.error_class == "transient"  # back in the queue
    connection = db.session.get(UserConnection, connection.id)
    assert connection.status == UserConnection.RETRYING
    assert connection.last_error == "Google Classroom could not be reached (ConnectionError). " \
                                    "The pull will be tried again."
    assert db.session.scalar(select(func.count()).select_from(Assignment).where(Assignment.deleted_at.is_(None))) == 1


def test_both_source_connectors_register_lazily():
    fresh = ConnectorRegistry()
    assert register_source_connectors(fresh) == ["classroom", "schoology"]
    assert fresh.create("schoology", {"consumer_key": "k", "consumer_secret": "s"}, None, {}).name == "schoology"


def test_a_system_without_a_connector_fails_plainly(app, monkeypatch):
    monkeypatch.setitem(CONNECTOR_MODULES, "schoology", "app.sync.connectors.not_installed_here")
    fresh = ConnectorRegistry()
    with pytest.raises(PermanentError, match="^This installation has no Schoology connector.$"):
        create_source_connector("schoology", {}, None, {}, target=fresh)


def test_due_source_pulls_pick_never_and_stale_connections(app):
    never = _connection("classroom")
    stale = _connection("schoology")
    now = utcnow()
    stale.last_pull_at = now - timedelta(hours=2)
    fresh_user = User(email="fresh@example.edu", password_hash="x")
    db.session.add(fresh_user)
    db.session.flush()
    fresh = UserConnection(user_id=fresh_user.id, system="classroom", last_pull_at=now - timedelta(minutes=5))
    fresh.set_credentials({"access_token": "t"}, hint_from="access_token")
    removed = UserConnection(user_id=fresh_user.id, system="schoology")  # no credentials: disconnected
    db.session.add_all([fresh, removed])
    db.session.commit()
    assert due_source_pulls(db.session, now, interval=timedelta(minutes=30)) == [never.id, stale.id]


def test_the_tick_queues_each_due_connection_once(app):
    first, second = _connection("classroom"), _connection("schoology")
    ops = run_due_source_pulls(app)
    assert len(set(ops)) == 2
    assert run_due_source_pulls(app) == ops  # still waiting: joined, not queued twice
    queued = db.session.scalars(select(SyncOperation).order_by(SyncOperation.id)).all()
    assert [(op.kind, op.entity_id, op.source_system) for op in queued] == [
        (SOURCE_PULL, str(first.id), "classroom"), (SOURCE_PULL, str(second.id), "schoology")]
