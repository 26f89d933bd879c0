"""The sync benchmark (a benchmark, not a unit test: pytest only collects tests/).

    make bench                                   # default data set, SQLite + MariaDB when reachable
    make bench BENCH_ARGS="--large --json out.json"
    python test_canvas_performance.py --courses 5 --assignments 20 --students 30 --latency-ms 20
    python test_canvas_performance.py --users 4  # also sync 4 users concurrently in one process

It starts the sandbox Canvas in this process (real HTTP on 127.0.0.1, `--latency-ms` per
request, the real leaky-bucket throttle) and, per database backend, runs each phase in a
fresh subprocess (`python -m bench.phase`) so each phase's peak RSS is its own:

1. baseline: what a user writes with canvasapi (bench/baseline.py): sequential pages, one
   submissions call per assignment, one ORM add per row, one commit per course;
2. our full sync; 3. our incremental sync with nothing changed; 4. our incremental sync
   after 1% of the submissions were (re)graded through the sandbox's mutations;
5. the lower bound (network only, computed, see `lower_bound()`).

Requests and throttles per phase come from the sandbox's request log (what Canvas saw);
retries from the client. Then a DB-write micro-benchmark (our bulk upsert vs a raw DBAPI
executemany of the same rows), the effect of the 10 sync indexes on the incremental sync's
hot queries, and with `--users N` a concurrent multi-user run.
Every number printed is measured in this run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from sandbox.canvas import CanvasSandbox  # noqa: E402
from sandbox.canvas.throttle import HIGH_WATER_MARK, OUTFLOW, UP_FRONT  # noqa: E402

DEFAULT = {"courses": 20, "assignments": 50, "students": 100}
LARGE = {"courses": 50, "assignments": 100, "students": 200}
PER_PAGE = 100
MARIADB_SERVER = os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/")
EMAIL = "bench@example.test"
PHASES = ("baseline", "full", "incremental_noop", "incremental_1pct")


# -- databases ---------------------------------------------------------------------------

def mariadb_reachable() -> bool:
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MARIADB_SERVER)
    try:
        pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                        connect_timeout=3).close()
        return True
    except pymysql.MySQLError:
        return False


class Databases:
    """Throwaway databases: SQLite files in a temp dir, `canvasflow_bench_<hex>` on MariaDB (dropped)."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="canvasflow-bench-")
        self.mariadb: list[str] = []

    def new(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp.name}/{secrets.token_hex(4)}.db"
        import pymysql
        from sqlalchemy.engine import make_url

        name = f"canvasflow_bench_{secrets.token_hex(4)}"
        url = make_url(MARIADB_SERVER)
        conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                               autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        conn.close()
        self.mariadb.append(name)
        return url.set(database=name, query={"charset": "utf8mb4"}).render_as_string(hide_password=False)

    def close(self) -> None:
        if self.mariadb:
            import pymysql
            from sqlalchemy.engine import make_url

            url = make_url(MARIADB_SERVER)
            conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username,
                                   password=url.password or "", autocommit=True)
            with conn.cursor() as cur:
                for name in self.mariadb:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()
        self.tmp.cleanup()


def app_for(database_url: str):
    from bench.phase import make_app

    return make_app(database_url)


def migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    import logging

    logging.getLogger().setLevel(logging.WARNING)


def add_user(app, sb: CanvasSandbox, email: str = EMAIL) -> None:
    from app.extensions import db
    from app.models import User

    with app.app_context():
        user = User(email=email)
        user.set_password("bench-password")
        user.canvas_base_url = sb.base_url
        user.canvas_token = sb.token
        db.session.add(user)
        db.session.commit()
        db.session.remove()


# -- phases ------------------------------------------------------------------------------

STOCK_CANVASAPI = False


def run_phase(phase: str, database_url: str, emails: list[str]) -> dict:
    cmd = [sys.executable, "-m", "bench.phase", phase, "--database-url", database_url]
    if STOCK_CANVASAPI:
        cmd.append("--stock-canvasapi")
    for email in emails:
        cmd += ["--email", email]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"phase {phase} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measured(sb: CanvasSandbox, phase: str, database_url: str, emails: list[str] | None = None) -> dict:
    sb.set_throttle(True)  # empty bucket: each phase starts as a fresh token would
    sb.clear_log()
    out = run_phase(phase, database_url, emails or [EMAIL])
    log = list(sb.request_log)
    out["canvas_requests"] = len(log)
    out["canvas_throttles"] = sum(1 for e in log if e.throttled)
    out["log"] = log
    return out


def grade_one_percent(sb: CanvasSandbox, seed: int) -> int:
    rng = random.Random(seed)
    data = sb.data
    subs = [(s["assignment_id"], s["user_id"]) for cid in sorted(data.enrolled)
            for s in data.iter_submissions(cid, published_only=True)]
    chosen = rng.sample(subs, max(1, len(subs) // 100))
    for assignment_id, user_id in chosen:
        sb.grade_submission(assignment_id, user_id, round(rng.uniform(0, 10), 1))
    return len(chosen)


def lower_bound(sb: CanvasSandbox, log) -> dict:
    """The fastest any client could fetch this data through this Canvas.

    R   = fewest requests the data needs at per_page=100:
          1 (users/self) + 2 course lists (active, completed; ceil(n/100) pages each)
          + per course ceil(groups/100) (assignment_groups?include[]=assignments)
          + ceil(submissions/100) (students/submissions).
    t   = median server-side duration of a successful request in the measured full sync
          (the injected latency plus the sandbox's own work).
    c   = mean throttle cost of a request (X-Request-Cost, from the same log).
    C   = most requests in flight the bucket admits: floor(700 / 50) + 1 = 15
          (a request is refused only when the bucket is *over* the mark).
    T   = max(D * t,                    critical path: D = 3 dependent levels
                                        (course list -> groups -> a submissions page),
              R * t / C,                all requests spread over C parallel slots,
              (R * c - slack) / 10)     the bucket's outflow of 10 units/s once the
                                        700 - 50*C units of slack are used up.
    Client CPU and database writes are left out: this is a network bound.
    """
    data = sb.data
    courses = sorted(data.enrolled)
    requests = 1 + 2 * max(1, math.ceil(len(courses) / PER_PAGE))
    for cid in courses:
        groups = data.course_groups(cid)
        n_subs = sum(1 for _ in data.iter_submissions(cid, published_only=True))
        requests += max(1, math.ceil(len(groups) / PER_PAGE)) + max(1, math.ceil(n_subs / PER_PAGE))
    ok = [e for e in log if e.status == 200 and not e.throttled]
    t = statistics.median(e.duration for e in ok)
    c = statistics.fmean(e.cost for e in ok)
    slots = math.floor(HIGH_WATER_MARK / UP_FRONT) + 1
    slack = max(0.0, HIGH_WATER_MARK - UP_FRONT * slots)
    seconds = max(3 * t, requests * t / slots, (requests * c - slack) / OUTFLOW)
    return {"seconds": seconds, "requests": requests, "request_s": t, "cost": c, "slots": slots}


# -- micro-benchmarks --------------------------------------------------------------------

def upsert_micro(database_url: str, n: int) -> dict:
    """Our bulk upsert of n submission rows vs a raw DBAPI executemany of the same rows."""
    from sqlalchemy import delete, text

    from app.extensions import db
    from app.models import Assignment, Course, Submission, User
    from app.services.canvas_streams import submission_row
    from app.services.upsert import upsert

    app = app_for(database_url)
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

    app = app_for(database_url)
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


def database_size_mb(database_url: str) -> float:
    """Bytes the synced data takes: SQLite pages in use, InnoDB data + index length (after ANALYZE)."""
    from sqlalchemy import text

    from app.extensions import db

    app = app_for(database_url)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
                free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
                size = (pages - free) * conn.exec_driver_sql("PRAGMA page_size").scalar()
        else:
            with db.engine.connect() as conn:
                tables = [r[0] for r in conn.execute(text("SHOW TABLES"))]
                for table in tables:
                    conn.exec_driver_sql(f"ANALYZE TABLE `{table}`").all()
                size = conn.execute(text("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                                         "WHERE table_schema = DATABASE()")).scalar()
        db.session.remove()
        db.engine.dispose()
    return round(float(size) / 2**20, 1)


def table_counts(database_url: str) -> dict:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Assignment, Course, GradeCategory, Submission, Term

    app = app_for(database_url)
    with app.app_context():
        counts = {m.__tablename__: db.session.scalar(select(func.count()).select_from(m).where(m.deleted_at.is_(None)))
                  for m in (Term, Course, GradeCategory, Assignment, Submission)}
        db.session.remove()
        db.engine.dispose()
    return counts


# -- one backend -------------------------------------------------------------------------

def bench_backend(backend: str, sb: CanvasSandbox, dbs: Databases, args) -> dict:
    say = lambda msg: print(f"  [{backend}] {msg}", flush=True)  # noqa: E731
    phases: dict[str, dict] = {}
    ours_url = dbs.new(backend)
    app = app_for(ours_url)
    migrate(app)
    add_user(app, sb)

    if not args.skip_baseline:
        base_url = dbs.new(backend)
        app_b = app_for(base_url)
        migrate(app_b)
        add_user(app_b, sb)
        say("baseline (canvasapi, sequential, ORM add per row) ...")
        phases["baseline"] = measured(sb, "baseline", base_url)
        say(f"baseline {phases['baseline']['seconds']:.1f}s")

    say("full sync ...")
    phases["full"] = measured(sb, "full", ours_url)
    lb = lower_bound(sb, phases["full"]["log"])
    say(f"full {phases['full']['seconds']:.1f}s (lower bound {lb['seconds']:.1f}s)")
    db_mb = database_size_mb(ours_url)
    say(f"database size after the full sync {db_mb} MB")
    same = None
    if "baseline" in phases:
        same = table_counts(base_url) == table_counts(ours_url)

    if not args.full_only:
        phases["incremental_noop"] = measured(sb, "incremental", ours_url)
        say(f"incremental, nothing changed {phases['incremental_noop']['seconds']:.2f}s")
        graded = grade_one_percent(sb, seed=args.seed)
        phases["incremental_1pct"] = measured(sb, "incremental", ours_url)
        phases["incremental_1pct"]["graded"] = graded
        say(f"incremental after grading {graded} submissions {phases['incremental_1pct']['seconds']:.2f}s")

    out = {"phases": {k: {kk: vv for kk, vv in v.items() if kk != "log"} for k, v in phases.items()},
           "lower_bound": lb, "same_rows_as_baseline": same, "database_mb": db_mb}
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
        "baseline_full_s": get("baseline", "seconds"),
        "full_s": get("full", "seconds"),
        "incremental_noop_s": get("incremental_noop", "seconds"),
        "incremental_1pct_s": get("incremental_1pct", "seconds"),
        "lower_bound_s": lb["seconds"],
        "requests": {**{k: v["canvas_requests"] for k, v in phases.items()}, "lower_bound": lb["requests"]},
        "throttles": {k: v["canvas_throttles"] for k, v in phases.items()},
        "retries": {k: v["retries"] for k, v in phases.items()},
        "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in phases.items()},
        "rows": {k: v["rows"] for k, v in phases.items()},
    })
    return out


def bench_users(backend: str, args, dbs: Databases) -> dict:
    """N users, each with their own Canvas (own token and throttle bucket), synced at once in one process."""
    size = {k: getattr(args, k) for k in DEFAULT}
    sandboxes = [CanvasSandbox(**size, seed=args.seed + i, token=f"bench-token-{i}", latency_ms=args.latency_ms,
                               throttle=True).start() for i in range(args.users)]
    try:
        url = dbs.new(backend)
        app = app_for(url)
        migrate(app)
        emails = [f"user{i}@example.test" for i in range(args.users)]
        for sb, email in zip(sandboxes, emails):
            add_user(app, sb, email)
        out = run_phase("users", url, emails)
        out["canvas_requests"] = sum(len(sb.request_log) for sb in sandboxes)
        out["canvas_throttles"] = sum(1 for sb in sandboxes for e in sb.request_log if e.throttled)
        out["users"] = args.users
        return out
    finally:
        for sb in sandboxes:
            sb.stop()


# -- report ------------------------------------------------------------------------------

def print_table(backend: str, r: dict) -> None:
    print(f"\n== {backend} ==")
    head = f"{'phase':<18}{'wall s':>9}{'requests':>10}{'throttles':>10}{'retries':>9}{'peak RSS MB':>12}" \
           f"{'rows':>9}{'rows/s':>10}{'baseline/this':>14}{'this/lower':>11}"
    print(head)
    print("-" * len(head))
    base = r["baseline_full_s"]
    lb = r["lower_bound_s"]
    for name, p in r["phases"].items():
        rate = p["rows"] / p["seconds"] if p["seconds"] else 0
        ratio = f"{base / p['seconds']:.1f}x" if base else "-"
        vs_lb = f"{p['seconds'] / lb:.2f}x" if name in ("full", "baseline") else "-"
        throttles = p["canvas_throttles"]
        print(f"{name:<18}{p['seconds']:>9.2f}{p['canvas_requests']:>10}{throttles:>10}{p['retries']:>9}"
              f"{p['peak_rss_mb']:>12.1f}{p['rows']:>9}{rate:>10.0f}{ratio:>14}{vs_lb:>11}")
    print(f"{'lower bound':<18}{lb:>9.2f}{r['lower_bound']['requests']:>10}"
          f"   (median request {r['lower_bound']['request_s'] * 1000:.1f} ms, {r['lower_bound']['slots']} slots, "
          f"mean cost {r['lower_bound']['cost']:.4f})")
    print(f"database size after the full sync: {r['database_mb']} MB ({r['phases']['full']['rows']} rows written)")
    if r.get("same_rows_as_baseline") is not None:
        print(f"same live rows as the baseline: {'yes' if r['same_rows_as_baseline'] else 'NO'}")
    if "upsert_micro" in r:
        m = r["upsert_micro"]
        print(f"upsert micro ({m['rows']} rows): bulk upsert {m['upsert_insert_s']:.3f}s, raw executemany "
              f"{m['raw_insert_s']:.3f}s -> {m['ratio']:.2f}x; upsert over existing rows {m['upsert_update_s']:.3f}s")
    if "indexes" in r:
        i = r["indexes"]
        print(f"sync indexes: incremental hot queries {i['sync_without_s'] * 1000:.1f} ms without / "
              f"{i['sync_with_s'] * 1000:.1f} ms with = {i['sync_ratio']:.2f}x; {i['lookups']} canvas-id lookups "
              f"{i['lookups_without_s'] * 1000:.1f} ms / {i['lookups_with_s'] * 1000:.1f} ms = "
              f"{i['lookups_ratio']:.1f}x")
    if "users" in r:
        u = r["users"]
        print(f"{u['users']} users at once: {u['seconds']:.1f}s wall, per user {min(u['per_user_s']):.1f}-"
              f"{max(u['per_user_s']):.1f}s, {u['canvas_requests']} requests, {u['canvas_throttles']} throttles, "
              f"peak RSS {u['peak_rss_mb']:.0f} MB, {u['rows'] / u['seconds']:.0f} rows/s")


def targets(r: dict) -> list[str]:
    lines = []
    if r["baseline_full_s"] and r["full_s"]:
        x = r["baseline_full_s"] / r["full_s"]
        lines.append(f"full sync vs baseline: {x:.1f}x (target >= 10x) {'MET' if x >= 10 else 'MISSED'}")
    y = r["full_s"] / r["lower_bound_s"]
    lines.append(f"full sync vs lower bound: {y:.2f}x (target <= 1.3x) {'MET' if y <= 1.3 else 'MISSED'}")
    if r["baseline_full_s"] and r["incremental_noop_s"]:
        z = r["baseline_full_s"] / r["incremental_noop_s"]
        lines.append(f"incremental noop vs baseline full: {z:.0f}x (target >= 50x) {'MET' if z >= 50 else 'MISSED'}")
    if "upsert_micro" in r:
        m = r["upsert_micro"]["ratio"]
        lines.append(f"bulk upsert vs raw executemany: {m:.2f}x (target <= 1.5x) {'MET' if m <= 1.5 else 'MISSED'}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", action="store_true", help="50 courses x 100 assignments x 200 students")
    parser.add_argument("--courses", type=int)
    parser.add_argument("--assignments", type=int)
    parser.add_argument("--students", type=int)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,mariadb", help="comma-separated; mariadb only when reachable")
    parser.add_argument("--skip-baseline", action="store_true", help="leave the (slow) canvasapi baseline out")
    parser.add_argument("--stock-canvasapi", action="store_true",
                        help="baseline with canvasapi's own (slow, date-parsing) objects; see bench/baseline.py")
    parser.add_argument("--full-only", action="store_true", help="only the full sync (e.g. for --large RSS)")
    parser.add_argument("--micro-rows", type=int, default=20000)
    parser.add_argument("--users", type=int, default=0, help="also sync N users concurrently in one process")
    parser.add_argument("--json", dest="json_path", help="write the results to this file")
    args = parser.parse_args(argv)
    global STOCK_CANVASAPI
    STOCK_CANVASAPI = args.stock_canvasapi
    size = dict(LARGE if args.large else DEFAULT)
    for key in size:
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
        setattr(args, key, size[key])

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "mariadb" in backends and not mariadb_reachable():
        print(f"MariaDB not reachable at {MARIADB_SERVER}: SQLite only", flush=True)
        backends.remove("mariadb")
    started = datetime.now(timezone.utc)
    machine = {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
               "platform": platform.platform()}
    print(f"Canvas Flow sync benchmark {started:%Y-%m-%d %H:%M} UTC on {machine['nproc']} CPUs ({machine['cpu']})")
    print(f"data: {size['courses']} courses x {size['assignments']} assignments x {size['students']} students, "
          f"latency {args.latency_ms:g} ms, throttle on (mark {HIGH_WATER_MARK:g}, {UP_FRONT:g} up front, "
          f"outflow {OUTFLOW:g}/s)", flush=True)

    t0 = time.monotonic()
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
    for backend, r in results.items():
        print_table(backend, r)
        for line in targets(r):
            print("  " + line)
    total = time.monotonic() - t0
    print(f"\nbenchmark wall time {total:.0f}s")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({
            "date": started.isoformat(timespec="seconds"), "machine": machine, "data": size,
            "latency_ms": args.latency_ms, "wall_s": total, "results": results}, indent=2, default=str))
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
