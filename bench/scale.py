"""--scale: how the sync's cost grows with the work, and what a second Celery worker buys.

Scale curve: one user's full sync and no-change incremental sync at 1x and 10x the data
set (100x with --scale-100, alone: its sandbox holds ~10 million submissions in memory).
The factor multiplies the number of courses, so each point is the same courses repeated:
a sync whose cost per row stays flat is linear. Each point has its own sandbox Canvas and
a fresh database; each phase runs in its own process (its own peak RSS), as in `make bench`.

Worker ratio (--scale-users 1,4,16): N users (own token, own sandbox, own throttle bucket)
through 1 and then 2 Celery worker processes over Redis (bench/celery_users.py), rows/s
and per-user time for each, and the 2-worker / 1-worker rows/s at the largest N.
"""
from __future__ import annotations

from bench.databases import Databases, add_user, migrate, table_counts
from bench.phase import make_app
from bench.runner import measured
from sandbox.canvas import CanvasSandbox

SCALE_FACTORS = (1, 10)
LARGE_FACTOR = 100


def scale_point(backend: str, factor: int, size: dict, args, dbs: Databases, say) -> dict:
    """The full and no-change incremental sync of one user on `factor` x the data set."""
    scaled = {**size, "courses": size["courses"] * factor}
    say(f"scale {factor}x: {scaled['courses']} courses x {scaled['assignments']} x {scaled['students']} ...")
    sb = CanvasSandbox(**scaled, seed=args.seed, latency_ms=args.latency_ms, throttle=True).start()
    try:
        url = dbs.new(backend)
        app = make_app(url)
        migrate(app)
        add_user(app, sb)
        full = measured(sb, "full", url)
        noop = measured(sb, "incremental", url)
    finally:
        sb.stop()
    submissions = full["counts"]["submissions"]["created"]
    point = {"factor": factor, **scaled, "submission_rows": submissions}
    for name, p in (("full", full), ("incremental_noop", noop)):
        point[name] = {"seconds": p["seconds"], "cpu_s": p["cpu_s"], "peak_rss_mb": p["peak_rss_mb"],
                       "rows": p["rows"], "requests": p["canvas_requests"], "throttles": p["canvas_throttles"],
                       "rows_per_s": p["rows"] / p["seconds"] if p["seconds"] else 0.0}
    point["full"]["us_per_row"] = full["seconds"] / max(1, submissions) * 1e6
    point["full"]["cpu_us_per_row"] = full["cpu_s"] / max(1, submissions) * 1e6
    say(f"scale {factor}x: full {full['seconds']:.1f}s (cpu {full['cpu_s']:.1f}s, {full['peak_rss_mb']:.0f} MB), "
        f"no-change incremental {noop['seconds']:.2f}s")
    return point


def scale_curve(backend: str, size: dict, args, dbs: Databases, say) -> list[dict]:
    if args.scale_factors is not None:
        factors = tuple(int(f) for f in args.scale_factors.split(",") if f.strip())
    else:
        factors = (*SCALE_FACTORS, LARGE_FACTOR) if args.scale_100 else SCALE_FACTORS
    return [scale_point(backend, f, size, args, dbs, say) for f in factors]


def print_scale(backend: str, points: list[dict]) -> None:
    print(f"\n== {backend}: scale curve (one user) ==")
    head = (f"{'data':>5}{'courses':>8}{'sub rows':>10}{'full s':>8}{'cpu s':>7}{'RSS MB':>8}{'rows/s':>9}"
            f"{'us/row':>8}{'noop s':>8}{'noop cpu':>9}{'noop RSS':>9}")
    print(head)
    print("-" * len(head))
    for p in points:
        f, n = p["full"], p["incremental_noop"]
        print(f"{p['factor']:>4}x{p['courses']:>8}{p['submission_rows']:>10}{f['seconds']:>8.1f}{f['cpu_s']:>7.1f}"
              f"{f['peak_rss_mb']:>8.0f}{f['rows_per_s']:>9.0f}{f['us_per_row']:>8.1f}{n['seconds']:>8.2f}"
              f"{n['cpu_s']:>9.2f}{n['peak_rss_mb']:>9.0f}")
    print(scale_chart(points))


def scale_chart(points: list[dict], width: int = 40) -> str:
    """A text bar chart of the full sync's wall time per submission row at each point."""
    top = max(p["full"]["us_per_row"] for p in points) or 1.0
    return "\n".join(f"  {p['factor']:>4}x |{'#' * max(1, round(width * p['full']['us_per_row'] / top)):<{width}}| "
                     f"{p['full']['us_per_row']:.1f} us/row" for p in points)


def worker_ratio(backend: str, args, dbs: Databases, users: list[int], say) -> dict:
    """N users' full syncs through 1 and 2 Celery workers: rows/s, per-user time, throttles."""
    from bench.celery_users import bench_celery_users

    runs = []
    for n in users:
        for workers in (1, 2):
            say(f"{n} users through {workers} Celery worker(s) ...")
            args.celery_users = n
            r = bench_celery_users(backend, args, dbs, workers=workers)
            rows = sum(table_counts(r.pop("database_url")).values())
            runs.append({"users": n, "workers": workers, "seconds": r["seconds"], "rows": rows,
                         "rows_per_s": rows / r["seconds"] if r["seconds"] else 0.0,
                         "per_user_s": r["run_seconds"], "throttles": r["throttles"], "statuses": r["statuses"]})
            say(f"{n} users, {workers} worker(s): {r['seconds']:.1f}s, {runs[-1]['rows_per_s']:.0f} rows/s, "
                f"{r['throttles']} throttles")
    top = max(users)
    one = next(r for r in runs if r["users"] == top and r["workers"] == 1)
    two = next(r for r in runs if r["users"] == top and r["workers"] == 2)
    return {"runs": runs, "users": top, "ratio": two["rows_per_s"] / one["rows_per_s"] if one["rows_per_s"] else 0.0,
            "throttles": one["throttles"] + two["throttles"]}


def print_workers(backend: str, w: dict) -> None:
    print(f"\n== {backend}: users through Celery workers ==")
    head = f"{'users':>6}{'workers':>8}{'wall s':>8}{'rows':>10}{'rows/s':>9}{'per user s':>16}{'throttles':>10}"
    print(head)
    print("-" * len(head))
    for r in w["runs"]:
        per = f"{min(r['per_user_s']):.1f}-{max(r['per_user_s']):.1f}" if r["per_user_s"] else "-"
        print(f"{r['users']:>6}{r['workers']:>8}{r['seconds']:>8.1f}{r['rows']:>10}{r['rows_per_s']:>9.0f}{per:>16}"
              f"{r['throttles']:>10}")
    print(f"  {w['users']} users: 2 workers / 1 worker rows/s = {w['ratio']:.2f}x")
