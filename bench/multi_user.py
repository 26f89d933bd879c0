"""--users N: N users, each with their own sandbox Canvas, synced concurrently in one process."""
from __future__ import annotations

import time

from bench.databases import Databases, add_user, migrate
from bench.phase import make_app
from bench.runner import run_phase
from sandbox.canvas import CanvasSandbox

SIZE_KEYS = ("courses", "assignments", "students")


def bench_users(backend: str, args, dbs: Databases) -> dict:
    """N users, each with their own Canvas (own token and throttle bucket), synced at once in one process."""
    size = {k: getattr(args, k) for k in SIZE_KEYS}
    sandboxes = [CanvasSandbox(**size, seed=args.seed + i, token=f"bench-token-{i}", latency_ms=args.latency_ms,
                               throttle=True).start() for i in range(args.users)]
    try:
        url = dbs.new(backend)
        app = make_app(url)
        migrate(app)
        emails = [f"user{i}@example.test" for i in range(args.users)]
        for sb, email in zip(sandboxes, emails):
            add_user(app, sb, email)
        # The sandboxes serve from this process: its CPU during the phase is theirs (and this wait's).
        cpu0 = time.process_time()
        out = run_phase("users", url, emails)
        out["sandbox_cpu_s"] = time.process_time() - cpu0
        out["canvas_requests"] = sum(len(sb.request_log) for sb in sandboxes)
        out["canvas_throttles"] = sum(1 for sb in sandboxes for e in sb.request_log if e.throttled)
        out["users"] = args.users
        return out
    finally:
        for sb in sandboxes:
            sb.stop()
