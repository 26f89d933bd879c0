"""/healthz and /metrics: answers without a session, right when the database goes and comes back."""
from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from flask_migrate import upgrade
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.extensions import db
from app.models import ServiceHeartbeat, SyncOperation
from app.models.types import utcnow
from app.sync import queue
from tests.conftest import make_test_app
from tests.helpers import fast_service, make_canvas_user


def beat(now=None, *, fresh=True):
    now = now or utcnow()
    db.session.merge(ServiceHeartbeat(name="scheduler", owner="test", beat_at=now,
                                      expires_at=now + (timedelta(minutes=3) if fresh else -timedelta(minutes=1))))
    db.session.commit()


def test_healthz_reports_each_part(client):
    beat()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "ok" and response.json["scheduler"] == "ok" and response.json["queue"] == "ok"
    beat(fresh=False)
    stale = client.get("/healthz")
    assert stale.status_code == 503 and stale.json["scheduler"] == "stale"
    beat()
    op, _ = queue.enqueue(db.session, "canvas_sync", run_at=utcnow() - timedelta(hours=2))
    stuck = client.get("/healthz")
    assert stuck.status_code == 503 and stuck.json["queue"] == "stuck"
    db.session.get(SyncOperation, op.id).status = SyncOperation.COMPLETED
    db.session.commit()
    assert client.get("/healthz").status_code == 200


class Proxy:
    """A TCP proxy to the database server that can be cut and restored: the database 'goes away'."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.open = False
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns.clear()

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.listener.close()


@pytest.mark.timeout(60)
def test_healthz_turns_503_when_the_database_is_gone_and_200_when_back(app, backend, tmp_path):
    url = make_url(db.engine.url.render_as_string(hide_password=False))
    if backend == "sqlite":
        path = tmp_path / "health.db"
        migrated = make_test_app(f"sqlite:///{path}")
        with migrated.app_context():
            upgrade()
            db.engine.dispose()
        # a connection per request (SQLite keeps an open file's inode, so a pool would never notice)
        probe = make_test_app(f"sqlite:///{path}", SYNC_SCHEDULE_ENABLED=False,
                              SQLALCHEMY_ENGINE_OPTIONS={"poolclass": NullPool})
        gone, back = (lambda: path.rename(tmp_path / "away.db")), (lambda: (tmp_path / "away.db").rename(path))
        proxy = None
    else:
        proxy = Proxy(url.host, url.port)
        probe = make_test_app(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
                              SYNC_SCHEDULE_ENABLED=False, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True})
        gone, back = proxy.cut, proxy.restore
    client = probe.test_client()
    try:
        assert client.get("/healthz").status_code == 200
        gone()
        down = client.get("/healthz")
        assert down.status_code == 503 and down.json["database"] == "unreachable"
        back()
        assert client.get("/healthz").status_code == 200
    finally:
        with probe.app_context():
            db.engine.dispose()
        if proxy:
            proxy.close()


def test_metrics_count_runs_and_read_the_queue(client, app, canvas_sandbox):
    def samples():
        text = client.get("/metrics").get_data(as_text=True)
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    before = samples()
    user = make_canvas_user(canvas_sandbox)
    assert fast_service(user).sync_all_data().ok
    queue.enqueue(db.session, "hub_delivery")
    after = samples()
    key = ("canvasflow_sync_runs_total", (("kind", "full"), ("status", "succeeded"), ("trigger", "shell")))
    assert after[key] == before.get(key, 0) + 1
    assert after[("canvasflow_canvas_requests_total", ())] > before.get(("canvasflow_canvas_requests_total", ()), 0)
    assert after[("canvasflow_queue_operations_current", (("kind", "hub_delivery"), ("status", "pending")))] == 1


def test_metrics_can_require_a_token(client, app):
    app.config["METRICS_TOKEN"] = "scrape-secret"
    try:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
    finally:
        app.config["METRICS_TOKEN"] = ""
