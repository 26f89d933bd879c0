"""Running one measured phase: a `python -m bench.phase` subprocess (its own peak RSS), with
requests and throttles counted from the sandbox's request log; and the 1% re-grade between
the two incremental phases."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.databases import EMAIL

ROOT = Path(__file__).resolve().parent.parent
STOCK_CANVASAPI = False  # set from --stock-canvasapi by test_canvas_performance.py


def run_phase(phase: str, database_url: str, emails: list[str], extra: list[str] = ()) -> dict:
    cmd = [sys.executable, "-m", "bench.phase", phase, "--database-url", database_url, *extra]
    if STOCK_CANVASAPI:
        cmd.append("--stock-canvasapi")
    for email in emails:
        cmd += ["--email", email]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"phase {phase} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measured(sb, phase: str, database_url: str, emails: list[str] | None = None, extra: list[str] = ()) -> dict:
    sb.set_throttle(True)  # empty bucket: each phase starts as a fresh token would
    sb.clear_log()
    out = run_phase(phase, database_url, emails or [EMAIL], extra)
    log = list(sb.request_log)
    out["canvas_requests"] = len(log)
    out["canvas_throttles"] = sum(1 for e in log if e.throttled)
    out["log"] = log
    return out


def measured_floor(sb, database_url: str, full_log) -> dict:
    """The fetch-only floor of a measured full sync (bench/floor.py), in its own process."""
    from bench.floor import floor_urls

    with tempfile.NamedTemporaryFile("w", suffix=".urls", delete=False) as f:
        f.write("\n".join(floor_urls(full_log)))
    try:
        return measured(sb, "floor", database_url, extra=["--urls-file", f.name])
    finally:
        os.unlink(f.name)


def grade_one_percent(sb, seed: int) -> int:
    rng = random.Random(seed)
    data = sb.data
    subs = [(s["assignment_id"], s["user_id"]) for cid in sorted(data.enrolled)
            for s in data.iter_submissions(cid, published_only=True)]
    chosen = rng.sample(subs, max(1, len(subs) // 100))
    for assignment_id, user_id in chosen:
        sb.grade_submission(assignment_id, user_id, round(rng.uniform(0, 10), 1))
    return len(chosen)
