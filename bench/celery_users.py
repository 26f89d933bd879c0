"""--celery-users N: N users' full syncs through the queue and two Celery worker processes.

The production path end to end: a web-side app (SYNC_EXECUTOR=celery) queues each
user's sync as a click would, tasks travel through Redis, and two
`celery -A app.celery_app worker --pool=solo` processes claim the operations from the
database and sync from per-user sandbox Canvases (own token, own throttle bucket).

Then the per-user figures of docs/SCALING.md are checked against this run: the doc's
"4 users synced at once" wall time per user (its machine-time-per-sync figure) and its
requests per full sync, read from the doc's table, so the check follows the doc.
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bench.databases import Databases, add_user, migrate
from bench.phase import make_app
from sandbox.canvas import CanvasSandbox

ROOT = Path(__file__).resolve().parents[1]
SCALING = ROOT / "docs" / "SCALING.md"
SIZE_KEYS = ("courses", "assignments", "students")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The doc's per-user figures may be missed by this much before the check fails (the box is shared).
TOLERANCE = 1.25
DOC_SIZE = {"courses": 20, "assignments": 50, "students": 100}


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def scaling_figures(backend: str) -> dict:
    """The doc's per-user numbers for this backend's column (SQLite or MariaDB)."""
    column = {"sqlite": 0, "mariadb": 1}[backend]
    text = SCALING.read_text()

    def cell(label: str) -> str:
        row = next(line for line in text.splitlines() if line.startswith(f"| {label}"))
        return row.strip("|").split("|")[1 + column]

    concurrent = cell("4 users synced at once in one process: wall time")
    return {"user_seconds": float(re.search(r"[\d.]+", concurrent).group()) / 4,
            "requests": int(re.search(r"\d[\d,]*", cell("full sync: Canvas requests")).group().replace(",", ""))}


def start_workers(count: int, env: dict) -> list[subprocess.Popen]:
    return [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "app.celery_app", "worker", "--pool=solo", "--concurrency=1",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
         "-n", f"bench{i}@%h"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for i in range(count)]


def bench_celery_users(backend: str, args, dbs: Databases, *, workers: int = 2) -> dict:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import SyncOperation, SyncRun, User
    from app.sync.jobs.canvas_sync import start_or_join

    size = {k: getattr(args, k) for k in SIZE_KEYS}
    sandboxes = [CanvasSandbox(**size, seed=args.seed + i, token=f"bench-token-{i}", latency_ms=args.latency_ms,
                               throttle=True).start() for i in range(args.celery_users)]
    url = dbs.new(backend)
    queue_name = f"canvasflow-bench-{secrets.token_hex(4)}"
    settings = {"SYNC_EXECUTOR": "celery", "CELERY_BROKER_URL": REDIS_URL, "CELERY_TASK_QUEUE": queue_name}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SYNC_", "CELERY_"))}, **settings,
           "DATABASE_URL": url, "SYNC_SCHEDULE_ENABLED": "false", "CANVASFLOW_ENV": "development"}
    procs: list[subprocess.Popen] = []
    try:
        app = make_app(url)
        migrate(app)
        emails = [f"user{i}@example.test" for i in range(args.celery_users)]
        for sb, email in zip(sandboxes, emails):
            add_user(app, sb, email)
        procs = start_workers(workers, env)
        time.sleep(3)  # let the workers connect before the clock starts
        web = make_app(url)
        web.config.update(settings)
        from app.sync import executors

        executors.init_app(web)
        t0 = time.monotonic()
        with web.app_context():
            run_ids = [start_or_join(db.session.scalar(select(User.id).where(User.email == e)), trigger="button",
                                     incremental=False)[0].id for e in emails]
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                db.session.rollback()
                statuses = db.session.scalars(select(SyncOperation.status).where(
                    SyncOperation.kind == "canvas_sync")).all()
                if len(statuses) == len(run_ids) and all(s in ("completed", "failed") for s in statuses):
                    break
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a Celery worker exited during the benchmark")
                time.sleep(0.1)
            wall = time.monotonic() - t0
            runs = db.session.scalars(select(SyncRun).where(SyncRun.id.in_(run_ids))).all()
            ops = db.session.scalars(select(SyncOperation).where(SyncOperation.kind == "canvas_sync")).all()
            db.session.remove()
        requests = [sum(1 for e in sb.request_log if not e.throttled) for sb in sandboxes]
        out = {
            "users": args.celery_users, "workers": workers, "seconds": wall,
            "statuses": sorted(r.status for r in runs),
            "per_user_seconds": wall / args.celery_users,
            "run_seconds": sorted(round(op.duration_s or 0, 2) for op in ops),
            "workers_used": len({op.worker_id for op in ops}),
            "requests_per_user": requests,
            "throttles": sum(1 for sb in sandboxes for e in sb.request_log if e.throttled),
            "database_url": url,  # bench.scale counts the rows written; Databases drops it at the end
        }
        # The doc's figures are for the default account at 50 ms: only that run is comparable.
        if backend in ("sqlite", "mariadb") and size == DOC_SIZE and args.latency_ms == 50:
            out["doc"] = scaling_figures(backend)
        return out
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for sb in sandboxes:
            sb.stop()


def report(backend: str, r: dict) -> list[str]:
    lines = [f"[{backend}] {r['users']} users through {r['workers']} Celery workers: {r['seconds']:.1f}s wall, "
             f"{r['per_user_seconds']:.1f}s per user; runs {r['statuses']}; operation durations {r['run_seconds']}; "
             f"{r['workers_used']} workers used; requests per user {r['requests_per_user']}; "
             f"throttles {r['throttles']}"]
    doc = r.get("doc")
    if not doc:
        lines.append("  (docs/SCALING.md's figures are for the default data set at 50 ms: not compared)")
    else:
        ok_time = r["per_user_seconds"] <= doc["user_seconds"] * TOLERANCE
        # each user's Canvas has its own seed, so counts differ a little from the doc's account
        mean_requests = sum(r["requests_per_user"]) / len(r["requests_per_user"])
        ok_requests = abs(mean_requests - doc["requests"]) <= 0.02 * doc["requests"]
        lines.append(f"  docs/SCALING.md per-user machine time {doc['user_seconds']:.1f}s: measured "
                     f"{r['per_user_seconds']:.1f}s ({r['per_user_seconds'] / doc['user_seconds']:.2f}x) "
                     f"{'holds' if ok_time else 'MISSED'} (tolerance {TOLERANCE}x)")
        lines.append(f"  docs/SCALING.md requests per full sync {doc['requests']}: mean {mean_requests:.0f} "
                     f"{'holds' if ok_requests else 'MISSED'} (within 2%; {r['requests_per_user']})")
    return lines
