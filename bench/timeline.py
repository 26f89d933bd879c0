"""Where a full sync's wall time goes: the sandbox's request log of one measured full sync,
as requests in flight over time and each course's first and last request.

    python -m bench.timeline [--courses 20] [--latency-ms 50] [--backend sqlite]

A sync that keeps fewer requests in flight than the client's cap (LeakyBucketThrottle's
max_concurrency) while its CPU is idle is limited by its own schedule (which requests it
can make next), not by the CPU or Canvas; this shows which.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import Databases, add_user, migrate  # noqa: E402
from bench.phase import make_app  # noqa: E402
from bench.runner import measured  # noqa: E402
from sandbox.canvas import CanvasSandbox  # noqa: E402


def in_flight(log, step: float = 0.25) -> list[tuple[float, float]]:
    """Mean requests in flight per `step` seconds, from the first request's start."""
    t0 = min(e.started for e in log)
    end = max(e.started + e.duration for e in log)
    buckets = [0.0] * (int((end - t0) / step) + 1)
    for e in log:
        a, b = e.started - t0, e.started - t0 + e.duration
        i = int(a / step)
        while a < b and i < len(buckets):
            edge = (i + 1) * step
            buckets[i] += (min(b, edge) - a) / step
            a, i = edge, i + 1
    return [(i * step, v) for i, v in enumerate(buckets)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--courses", type=int, default=20)
    parser.add_argument("--assignments", type=int, default=50)
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--backend", default="sqlite")
    args = parser.parse_args(argv)
    sb = CanvasSandbox(courses=args.courses, assignments=args.assignments, students=args.students, seed=1,
                       latency_ms=args.latency_ms, throttle=True).start()
    dbs = Databases()
    try:
        url = dbs.new(args.backend)
        app = make_app(url)
        migrate(app)
        add_user(app, sb)
        full = measured(sb, "full", url)
    finally:
        sb.stop()
        dbs.close()
    log = full["log"]
    t0 = min(e.started for e in log)
    print(f"full sync {full['seconds']:.2f}s wall, {full.get('cpu_s', 0):.2f}s CPU, {len(log)} requests, "
          f"median request {sorted(e.duration for e in log)[len(log) // 2] * 1000:.1f} ms")
    series = in_flight(log)
    print("in flight per 0.25 s: " + " ".join(f"{v:.0f}" for _, v in series))
    courses: dict[str, list[float]] = {}
    for e in log:
        m = re.match(r"/api/v1/courses/(\d+)/", e.path)
        if m:
            span = courses.setdefault(m.group(1), [e.started - t0, e.started - t0 + e.duration, 0])
            span[0] = min(span[0], e.started - t0)
            span[1] = max(span[1], e.started - t0 + e.duration)
            span[2] += 1
    for cid, (a, b, n) in sorted(courses.items(), key=lambda kv: kv[1][0]):
        print(f"course {cid}: {a:6.2f} -> {b:6.2f} s ({n} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
