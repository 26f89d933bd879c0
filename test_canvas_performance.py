"""The sync benchmark (a benchmark, not a unit test: pytest only collects tests/).

    make bench                                   # default data set, SQLite + MariaDB when reachable
    make bench BENCH_ARGS="--large --json out.json"
    python test_canvas_performance.py --courses 5 --assignments 20 --students 30 --latency-ms 20
    python test_canvas_performance.py --users 4  # also sync 4 users concurrently in one process
    python test_canvas_performance.py --celery-users 4  # only: 4 users through two Celery workers
    make bench BENCH_ARGS=--scale                # only: the scale curve at 1x and 10x (bench/scale.py)
    make bench BENCH_ARGS="--scale --scale-100"  # ... and 100x (slow: ~10 million submissions)
    make bench BENCH_ARGS="--scale --scale-users 1,4,16"  # ... and N users through 1 and 2 Celery workers

It starts the sandbox Canvas in this process (real HTTP on 127.0.0.1, `--latency-ms` per
request, the real leaky-bucket throttle) and, per database backend, runs each phase in a
fresh subprocess (`python -m bench.phase`) so each phase's peak RSS is its own:

1. baseline: what a user writes with canvasapi (bench/baseline.py): sequential pages, one
   submissions call per assignment, one ORM add per row, one commit per course;
2. our full sync; 3. our incremental sync with nothing changed; 4. our incremental sync
   after 1% of the submissions were (re)graded through the sandbox's mutations;
5. the fetch-only floor: the full sync's requests again at the client's concurrency, bodies
   read, not decoded or written (measured, includes the sandbox's CPU; bench/floor.py);
6. the lower bound (network only, computed, see bench/lower_bound.py);
7. on SQLite, on the default data set: the full sync of the --large data set, only for its
   peak RSS (issue 9's memory target; `--no-large-rss` leaves it out).

Requests and throttles per phase come from the sandbox's request log (what Canvas saw);
retries from the client. Then a DB-write micro-benchmark (our bulk upsert vs a raw DBAPI
executemany of the same rows), the effect of the 10 sync indexes on the incremental sync's
hot queries, and with `--users N` a concurrent multi-user run.
Then each target of issue 9, met or missed, a miss with its cause (from this run's numbers:
CPU time of the syncing process and its writer thread, requests in flight). Every number
printed is measured in this run.

This file is the entry point (flags, orchestration, printing); the parts live in bench/:
databases.py (throwaway databases, size, row counts), runner.py (one phase in a subprocess),
lower_bound.py, micro.py (upsert and index micro-benchmarks), multi_user.py (--users N),
report.py (the table, the targets, the --json payload), phase.py and baseline.py.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench import runner  # noqa: E402
from bench.databases import (MARIADB_SERVER, POSTGRES_SERVER, Databases, add_user, bytes_per_submission,  # noqa: E402
                             database_size_mb, mariadb_reachable, migrate, postgres_reachable, raw_bytes_per_submission,
                             table_counts)
from bench.lower_bound import lower_bound  # noqa: E402
from bench.micro import index_effect, upsert_micro  # noqa: E402
from bench.multi_user import bench_users  # noqa: E402
from bench.phase import make_app  # noqa: E402
from bench.report import cpu_per_row, machine_info, print_table, scale_targets, target_lines, targets, write_json  # noqa: E402
from bench.runner import grade_one_percent, measured, measured_floor  # noqa: E402
from sandbox.canvas import CanvasSandbox  # noqa: E402
from sandbox.canvas.throttle import HIGH_WATER_MARK, OUTFLOW, UP_FRONT  # noqa: E402

DEFAULT = {"courses": 20, "assignments": 50, "students": 100}
LARGE = {"courses": 50, "assignments": 100, "students": 200}
USER_CALLS = ("/api/v1/courses", "/api/v1/users/self", "/api/v1/users/self/profile", "/api/v1/planner/overrides")
PHASES = ("baseline", "full", "incremental_noop", "incremental_1pct")
LARGE_RSS_BACKEND = "sqlite"


# -- one backend -------------------------------------------------------------------------

def bench_backend(backend: str, sb: CanvasSandbox, dbs: Databases, args) -> dict:
    say = lambda msg: print(f"  [{backend}] {msg}", flush=True)  # noqa: E731
    phases: dict[str, dict] = {}
    ours_url = dbs.new(backend)
    app = make_app(ours_url)
    migrate(app)
    add_user(app, sb)

    if not args.skip_baseline:
        base_url = dbs.new(backend)
        app_b = make_app(base_url)
        migrate(app_b)
        add_user(app_b, sb)
        say("baseline (canvasapi, sequential, ORM add per row) ...")
        phases["baseline"] = measured(sb, "baseline", base_url)
        say(f"baseline {phases['baseline']['seconds']:.1f}s")

    say("full sync ...")
    phases["full"] = measured(sb, "full", ours_url)
    full_in_flight = mean_in_flight(phases["full"]["log"])
    lb = lower_bound(sb, phases["full"]["log"])
    say(f"full {phases['full']['seconds']:.1f}s (lower bound {lb['seconds']:.1f}s)")
    floor = measured_floor(sb, ours_url, phases["full"]["log"])
    say(f"fetch-only floor {floor['seconds']:.1f}s ({floor['canvas_requests']} requests)")
    db_mb = database_size_mb(ours_url)
    per_submission = bytes_per_submission(ours_url)
    raw_per_submission = raw_bytes_per_submission(ours_url)
    say(f"database size after the full sync {db_mb} MB, {per_submission} bytes per submission row "
        f"(raw JSON {raw_per_submission} of them)")
    large, large_skipped = None, None
    if args.large:
        large_skipped = "this run is --large itself"
    elif args.no_large_rss:
        large_skipped = "not measured (--no-large-rss)"
    elif {k: getattr(args, k) for k in DEFAULT} != DEFAULT:
        large_skipped = "not measured (the data set is not the default one)"
    elif backend != LARGE_RSS_BACKEND:
        large_skipped = f"measured on {LARGE_RSS_BACKEND} only (the sync's memory does not depend on the backend)"
    else:
        large = bench_large_rss(backend, dbs, args, say)
    same = None
    if "baseline" in phases:
        same = table_counts(base_url) == table_counts(ours_url)

    if not args.full_only:
        phases["incremental_noop"] = measured(sb, "incremental", ours_url)
        # Per course: the user's own calls (course lists, self, planner marks, profile) are one
        # set per run whatever the number of courses.
        in_courses = [e for e in phases["incremental_noop"]["log"] if e.path.rstrip("/") not in USER_CALLS]
        noop_per_course = len(in_courses) / max(1, len(sb.data.enrolled))
        say(f"incremental, nothing changed {phases['incremental_noop']['seconds']:.2f}s")
        graded = grade_one_percent(sb, seed=args.seed)
        phases["incremental_1pct"] = measured(sb, "incremental", ours_url)
        phases["incremental_1pct"]["graded"] = graded
        say(f"incremental after grading {graded} submissions {phases['incremental_1pct']['seconds']:.2f}s")

    out = {"phases": {k: {kk: vv for kk, vv in v.items() if kk != "log"} for k, v in phases.items()},
           "lower_bound": lb, "floor": {k: v for k, v in floor.items() if k != "log"},
           "same_rows_as_baseline": same, "database_mb": db_mb,
           "bytes_per_submission": per_submission, "raw_bytes_per_submission": raw_per_submission,
           "full_in_flight": full_in_flight, "large": large, "large_skipped": large_skipped}
    if not args.full_only:
        say(f"upsert micro-benchmark ({args.micro_rows} rows) ...")
        out["upsert_micro"] = upsert_micro(dbs.new(backend), args.micro_rows)
        say("index effect ...")
        out["indexes"] = index_effect(ours_url)
    if args.users > 1:
        out["users"] = bench_users(backend, args, dbs)
        say(f"{args.users} users concurrently {out['users']['seconds']:.1f}s")

    get = lambda name, key: phases[name][key] if name in phases else None  # noqa: E731
    out.update({
        "incremental_noop_requests_per_course": None if args.full_only else noop_per_course,
        "baseline_full_s": get("baseline", "seconds"),
        "full_s": get("full", "seconds"),
        "incremental_noop_s": get("incremental_noop", "seconds"),
        "incremental_1pct_s": get("incremental_1pct", "seconds"),
        "lower_bound_s": lb["seconds"],
        "floor_s": floor["seconds"],
        "requests": {**{k: v["canvas_requests"] for k, v in phases.items()}, "lower_bound": lb["requests"]},
        "throttles": {k: v["canvas_throttles"] for k, v in phases.items()},
        "retries": {k: v["retries"] for k, v in phases.items()},
        "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in phases.items()},
        "rows": {k: v["rows"] for k, v in phases.items()},
    })
    out["cpu_per_row_us"] = cpu_per_row(out)
    return out


def mean_in_flight(log) -> float:
    """Requests in flight on average over a phase: the sum of their durations over its span."""
    if not log:
        return 0.0
    span = max(e.started + e.duration for e in log) - min(e.started for e in log)
    return sum(e.duration for e in log) / span if span > 0 else 0.0


def bench_large_rss(backend: str, dbs: Databases, args, say) -> dict:
    """Only the full sync of the --large data set (its peak RSS against the default's): issue 9's
    memory target. Its own sandbox Canvas; the default one keeps running for the phases after."""
    say(f"full sync of --large ({LARGE['courses']} x {LARGE['assignments']} x {LARGE['students']}) for its peak RSS ...")
    sb = CanvasSandbox(**LARGE, seed=args.seed, latency_ms=args.latency_ms, throttle=True).start()
    try:
        url = dbs.new(backend)
        app = make_app(url)
        migrate(app)
        add_user(app, sb)
        p = measured(sb, "full", url)
    finally:
        sb.stop()
    out = {k: p[k] for k in ("seconds", "cpu_s", "rows", "peak_rss_mb", "canvas_requests", "canvas_throttles")}
    say(f"--large full {out['seconds']:.1f}s, peak RSS {out['peak_rss_mb']:.0f} MB")
    return out


def bench_celery(backends: list[str], args) -> int:
    from bench.celery_users import bench_celery_users, redis_reachable, report

    if not redis_reachable():
        print("Redis not reachable: the Celery mode needs it (127.0.0.1:6379)", flush=True)
        return 1
    dbs = Databases()
    try:
        for backend in backends:
            for line in report(backend, bench_celery_users(backend, args, dbs)):
                print(line, flush=True)
    finally:
        dbs.close()
    return 0


def print_scale_and_workers(backend: str, r: dict) -> None:
    from bench.scale import print_scale, print_workers

    if r.get("scale"):
        print_scale(backend, r["scale"])
    if "workers" in r:
        print_workers(backend, r["workers"])


def bench_scale(backends: list[str], size: dict, args, report: bool = True) -> dict:
    """--scale: the scale curve per backend and, with --scale-users, the Celery worker ratio
    (printed with their targets unless `report` is False: --everything prints them with the rest)."""
    from bench.scale import scale_curve, worker_ratio

    results = {}
    dbs = Databases()
    try:
        for backend in backends:
            say = lambda msg, backend=backend: print(f"  [{backend}] {msg}", flush=True)  # noqa: E731
            r = {"scale": scale_curve(backend, size, args, dbs, say)}  # empty with --scale-factors ""
            if args.scale_users:
                from bench.celery_users import redis_reachable

                if redis_reachable():
                    users = [int(n) for n in args.scale_users.split(",") if n.strip()]
                    r["workers"] = worker_ratio(backend, args, dbs, users, say)
                else:
                    say("Redis not reachable (127.0.0.1:6379): no Celery worker ratio")
            results[backend] = r
    finally:
        dbs.close()
    for backend, r in results.items():
        r["worker_ratio"] = r["workers"]["ratio"] if "workers" in r else None
        if not report:
            continue
        print_scale_and_workers(backend, r)
        r["targets"] = scale_targets(r, backend)
        for line in target_lines(r["targets"]):
            print("  " + line)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", action="store_true", help="50 courses x 100 assignments x 200 students")
    parser.add_argument("--courses", type=int)
    parser.add_argument("--assignments", type=int)
    parser.add_argument("--students", type=int)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,mariadb,postgresql",
                        help="comma-separated; mariadb and postgresql only when reachable")
    parser.add_argument("--skip-baseline", action="store_true", help="leave the (slow) canvasapi baseline out")
    parser.add_argument("--stock-canvasapi", action="store_true",
                        help="baseline with canvasapi's own (slow, date-parsing) objects; see bench/baseline.py")
    parser.add_argument("--full-only", action="store_true", help="only the full sync (e.g. for --large RSS)")
    parser.add_argument("--no-large-rss", action="store_true",
                        help="skip the --large full sync (SQLite) that the peak-RSS target compares against")
    parser.add_argument("--micro-rows", type=int, default=20000)
    parser.add_argument("--users", type=int, default=0, help="also sync N users concurrently in one process")
    parser.add_argument("--celery-users", type=int, default=0,
                        help="only: N users' full syncs through the queue and two Celery workers (needs Redis)")
    parser.add_argument("--scale", action="store_true",
                        help="only: one user's full and no-change sync at 1x and 10x the data set (more courses)")
    parser.add_argument("--scale-100", action="store_true", help="with --scale: also 100x (slow, ~10 million rows)")
    parser.add_argument("--scale-factors", help="with --scale: the data-set multiples instead, e.g. 1,10,100 ('' for none)")
    parser.add_argument("--scale-users", default="",
                        help="with --scale: e.g. 1,4,16 users through 1 and 2 Celery workers (needs Redis)")
    parser.add_argument("--everything", action="store_true",
                        help="the default run with --users 4, then per backend the scale curve (--scale-factors, "
                             "default 1,10) and the worker ratio (--scale-users, default 1,4,16): every target "
                             "from one run")
    parser.add_argument("--json", dest="json_path", help="write the results to this file")
    args = parser.parse_args(argv)
    runner.STOCK_CANVASAPI = args.stock_canvasapi
    size = dict(LARGE if args.large else DEFAULT)
    for key in size:
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
        setattr(args, key, size[key])

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "mariadb" in backends and not mariadb_reachable():
        print(f"MariaDB not reachable at {MARIADB_SERVER}: SQLite only", flush=True)
        backends.remove("mariadb")
    if "postgresql" in backends and not postgres_reachable():
        print(f"PostgreSQL not reachable at {POSTGRES_SERVER}: left out", flush=True)
        backends.remove("postgresql")
    started = datetime.now(timezone.utc)
    machine = machine_info()
    print(f"Canvas Flow sync benchmark {started:%Y-%m-%d %H:%M} UTC on {machine['nproc']} CPUs ({machine['cpu']})")
    print(f"data: {size['courses']} courses x {size['assignments']} assignments x {size['students']} students, "
          f"latency {args.latency_ms:g} ms, throttle on (mark {HIGH_WATER_MARK:g}, {UP_FRONT:g} up front, "
          f"outflow {OUTFLOW:g}/s)", flush=True)

    if args.everything:
        args.users = args.users or 4  # the 4-users-at-once target too
    if args.celery_users:
        return bench_celery(backends, args)
    t0 = time.monotonic()
    if args.scale:
        results = bench_scale(backends, size, args)
        total = time.monotonic() - t0
        print(f"\nbenchmark wall time {total:.0f}s")
        if args.json_path:
            write_json(args.json_path, started, machine, size, args.latency_ms, total, results)
        return 0
    results = {}
    dbs = Databases()
    try:
        for backend in backends:
            sb = CanvasSandbox(**size, seed=args.seed, latency_ms=args.latency_ms, throttle=True).start()
            try:
                results[backend] = bench_backend(backend, sb, dbs, args)
            finally:
                sb.stop()
    finally:
        dbs.close()
    if args.everything:
        args.scale_users = args.scale_users or "1,4,16"
        for backend, extra in bench_scale(backends, size, args, report=False).items():
            results[backend].update(extra)
    for backend, r in results.items():
        print_table(backend, r)
        if args.everything:
            print_scale_and_workers(backend, r)
        r["targets"] = targets(r, backend)
        for line in target_lines(r["targets"]):
            print("  " + line)
    total = time.monotonic() - t0
    print(f"\nbenchmark wall time {total:.0f}s")
    if args.json_path:
        write_json(args.json_path, started, machine, size, args.latency_ms, total, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
