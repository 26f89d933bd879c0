"""The app under gunicorn with 3 workers (the production command) on the test database.

30 concurrent "Sync Canvas" clicks of one user, spread over the workers, give one run;
failed logins are counted in Redis, so the limit holds whichever worker answers.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import SyncRun
from tests.helpers import make_canvas_user, stop_process
from tests.fixtures.workers import ROOT, database_url, worker_env
from tests.web.conftest import CSRF_RE

PASSWORD = "password-123"  # tests.helpers.make_canvas_user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn_app(app, redis_url, tmp_path):
    import redis

    port = free_port()
    limits_url = redis_url.rsplit("/", 1)[0] + "/15"  # a Redis database of the tests' own, emptied first
    redis.Redis.from_url(limits_url).flushdb()
    env = worker_env(database_url(), RATELIMIT_STORAGE_URI=limits_url, LOGIN_RATE_LIMIT="3", PROXY_TRUSTED_HOPS="1",
                     PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"), GUNICORN_WORKERS="3",
                     GUNICORN_BIND=f"127.0.0.1:{port}", LOG_FORMAT="json")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "run:app"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/login", timeout=5).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("gunicorn did not answer within 30 s: " + proc.communicate(timeout=5)[0][-2000:])
    yield base
    stop_process(proc)


def csrf(http: requests.Session, url: str) -> str:
    match = CSRF_RE.search(http.get(url, timeout=10).text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def login(http: requests.Session, base: str, email: str, password: str, *, address: str | None = None
          ) -> requests.Response:
    headers = {"X-Forwarded-For": address} if address else {}  # as the one trusted proxy would say
    return http.post(f"{base}/login", data={"email": email, "password": password, "csrf_token": csrf(http, f"{base}/login")},
                     headers=headers, allow_redirects=False, timeout=10)


@pytest.mark.timeout(120)
def test_thirty_clicks_across_workers_make_one_run(gunicorn_app, make_canvas_sandbox):
    user = make_canvas_user(make_canvas_sandbox(latency_ms=150))  # the sync outlasts the clicks
    http = requests.Session()
    assert login(http, gunicorn_app, user.email, PASSWORD).status_code == 302
    token = csrf(http, f"{gunicorn_app}/settings/")

    def click(_):
        # a connection of its own per click, so the clicks spread over the workers
        response = requests.post(f"{gunicorn_app}/sync/", data={"csrf_token": token}, cookies=http.cookies,
                                 headers={"Accept": "application/json", "Connection": "close"}, timeout=30)
        assert response.status_code == 202, response.text[:300]
        return response.json()["run_id"]

    with ThreadPoolExecutor(30) as pool:
        run_ids = list(pool.map(click, range(30)))
    assert len(set(run_ids)) == 1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.rollback()
        run = db.session.get(SyncRun, run_ids[0])
        if run.is_finished:
            break
        time.sleep(0.2)
    assert run.status == SyncRun.SUCCEEDED
    assert db.session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.user_id == user.id)) == 1


@pytest.mark.timeout(60)
def test_failed_logins_are_limited_across_workers(gunicorn_app, canvas_sandbox):
    user = make_canvas_user(canvas_sandbox, email="limited@example.com")
    for i in range(3):  # LOGIN_RATE_LIMIT=3 wrong passwords, over fresh connections, each from another address
        assert login(requests.Session(), gunicorn_app, user.email, "wrong-password",
                     address=f"198.51.100.{i}").status_code == 401
    # Each worker alone has seen at most some of them: only a shared count refuses all of these.
    refused = [login(requests.Session(), gunicorn_app, user.email, PASSWORD, address=f"203.0.113.{i}").status_code
               for i in range(9)]
    assert refused == [429] * 9


@pytest.mark.timeout(120)
def test_metrics_count_the_runs_of_every_worker(gunicorn_app, canvas_sandbox, backend):
    """Syncs run in whichever worker took the click; any worker's /metrics counts them all."""
    if backend == "sqlite":
        # Several processes writing one SQLite file is not a production setup; a login read
        # there was seen to miss a just-committed user once (docs/NOTES.md).
        pytest.skip("gunicorn with several workers is run on a database server (MariaDB, PostgreSQL)")
    from prometheus_client.parser import text_string_to_metric_families

    from app.models import SyncOperation

    run_ids: list[int] = []
    for i in range(20):  # bounded: stop once runs were carried out by at least two workers
        user = make_canvas_user(canvas_sandbox, email=f"metrics{i}@example.com")
        http = requests.Session()
        http.headers["Connection"] = "close"  # a new connection per request: spread over the workers
        assert login(http, gunicorn_app, user.email, PASSWORD).status_code == 302
        response = http.post(f"{gunicorn_app}/sync/", data={"csrf_token": csrf(http, f"{gunicorn_app}/settings/")},
                             headers={"Accept": "application/json"}, timeout=30)
        run_ids.append(response.json()["run_id"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the operation completes after the run was counted
            db.session.rollback()
            if db.session.scalar(select(SyncOperation.status).where(
                    SyncOperation.user_id == user.id)) == SyncOperation.COMPLETED:
                break
            time.sleep(0.1)
        workers = set(db.session.scalars(select(SyncOperation.worker_id).where(SyncOperation.kind == "canvas_sync")))
        if i >= 2 and len(workers) >= 2:
            break
    assert len(workers) >= 2, "every click landed on one worker"
    for _ in range(6):  # whichever worker answers the scrape
        families = {f.name: f for f in text_string_to_metric_families(
            requests.get(f"{gunicorn_app}/metrics", headers={"Connection": "close"}, timeout=10).text)}
        runs = sum(s.value for s in families["canvasflow_sync_runs"].samples if s.name.endswith("_total"))
        assert runs == len(run_ids)
        assert sum(s.value for s in families["canvasflow_canvas_requests"].samples
                   if s.name.endswith("_total")) > 0
