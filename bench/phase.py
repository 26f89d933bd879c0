"""One benchmark phase in its own process, so each phase's peak RSS is its own.

    python -m bench.phase PHASE --database-url URL --email E [--users-file F]

PHASE is baseline | full | incremental | users | floor (with --urls-file, see bench/floor.py). Prints one JSON line on stdout:
{"seconds", "rows", "requests", "retries", "throttles", "peak_rss_mb", ...}.
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM of its memory image.

    Not getrusage's ru_maxrss: Linux carries the parent's peak into a child across exec
    (subprocess forks or vforks the benchmark's process, which holds the sandboxes' data), so
    every phase run after the parent grew reported the parent's size (MariaDB's phases all
    showed the same figure).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def make_app(database_url: str):
    from app import create_app
    from config import DevelopmentConfig

    config = {k: getattr(DevelopmentConfig, k) for k in dir(DevelopmentConfig) if k.isupper()}
    config["SQLALCHEMY_DATABASE_URI"] = database_url
    app = create_app(config)
    logging.getLogger().setLevel(logging.WARNING)
    return app


def written(result) -> int:
    return sum(c.created + c.updated + c.deleted for c in result.counts.values())


def run_ours(user, incremental: bool) -> dict:
    from app.services.canvas_sync_service import create_canvas_sync_service

    service = create_canvas_sync_service(user)
    try:
        t0, cpu0, writer0 = time.monotonic(), time.process_time(), time.thread_time()
        sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        result = service.sync_all_data(use_incremental=incremental, trigger="bench")
        seconds, cpu_s, writer_s = time.monotonic() - t0, time.process_time() - cpu0, time.thread_time() - writer0
        sys_s = resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys0
    finally:
        service.api.close()
    if not result.ok:
        raise SystemExit(f"sync failed: {result.error}")
    # cpu_s: CPU time of this process (all its threads) during the sync; steadier than
    # wall time on a shared machine, and the sandbox (another process) is not in it.
    # writer_cpu_s: the calling thread's share (it writes; the fetching threads are the rest);
    # sys_cpu_s: the kernel's share of cpu_s (sockets, locks, the database file).
    return {"seconds": seconds, "cpu_s": cpu_s, "writer_cpu_s": writer_s, "sys_cpu_s": sys_s, "rows": written(result), "requests": result.requests, "retries": result.retries,
            "throttles": result.throttles, "kind": result.kind,
            "counts": {k: v.as_dict() for k, v in result.counts.items()}}


def run_floor(user, urls_file: str) -> dict:
    """The fetch-only floor with the client the sync uses, configured the same way."""
    from flask import current_app

    from app.services.canvas_api_service import CanvasAPIService
    from bench.floor import fetch_only

    config = current_app.config
    api = CanvasAPIService.for_user(user, timeout=config["CANVAS_TIMEOUT_S"], max_retries=config["CANVAS_MAX_RETRIES"],
                                    per_page=config["CANVAS_PER_PAGE"])
    try:
        with open(urls_file) as f:
            return fetch_only(api, [line.strip() for line in f if line.strip()])
    finally:
        api.close()


def run_users(app, emails: list[str]) -> dict:
    """Sync several users at once in this process, one thread (and DB session) each."""
    from app.extensions import db
    from app.models import User

    def one(email: str) -> dict:
        with app.app_context():
            try:
                user = db.session.query(User).filter_by(email=email).one()
                return run_ours(user, incremental=False)
            finally:
                db.session.remove()

    t0, cpu0 = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(len(emails)) as pool:
        results = list(pool.map(one, emails))
    return {"seconds": time.monotonic() - t0, "cpu_s": time.process_time() - cpu0,
            "rows": sum(r["rows"] for r in results),
            "requests": sum(r["requests"] for r in results), "retries": sum(r["retries"] for r in results),
            "throttles": sum(r["throttles"] for r in results), "per_user_s": [r["seconds"] for r in results]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["baseline", "full", "incremental", "users", "floor"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--email", action="append", required=True)
    parser.add_argument("--stock-canvasapi", action="store_true")
    parser.add_argument("--urls-file", help="floor: one URL path + query a line")
    args = parser.parse_args(argv)

    app = make_app(args.database_url)
    with app.app_context():
        from app.extensions import db
        from app.models import User

        if args.phase == "users":
            out = run_users(app, args.email)
        else:
            user = db.session.query(User).filter_by(email=args.email[0]).one()
            if args.phase == "floor":
                out = run_floor(user, args.urls_file)
            elif args.phase == "baseline":
                from bench.baseline import baseline_sync, lean_objects

                if not args.stock_canvasapi:
                    lean_objects()

                out = baseline_sync(db.session, user, user.canvas_base_url, user.canvas_token)
                out.update(retries=0, throttles=None)
            else:
                out = run_ours(user, incremental=args.phase == "incremental")
        db.session.remove()
        db.engine.dispose()
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
