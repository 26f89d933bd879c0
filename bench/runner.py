"""Running one measured phase: a `python -m bench.phase` subprocess (its own peak RSS), with
requests and throttles counted from the sandbox's request log; and the 1% re-grade between
the two incremental phases."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from bench.databases import EMAIL

ROOT = Path(__file__).resolve().parent.parent
STOCK_CANVASAPI = False  # set from --stock-canvasapi by test_canvas_performance.py


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


def measured(sb, phase: str, database_url: str, emails: list[str] | None = None) -> dict:
    sb.set_throttle(True)  # empty bucket: each phase starts as a fresh token would
    sb.clear_log()
    out = run_phase(phase, database_url, emails or [EMAIL])
    log = list(sb.request_log)
    out["canvas_requests"] = len(log)
    out["canvas_throttles"] = sum(1 for e in log if e.throttled)
    out["log"] = log
    return out


def grade_one_percent(sb, seed: int) -> int:
    rng = random.Random(seed)
    data = sb.data
    subs = [(s["assignment_id"], s["user_id"]) for cid in sorted(data.enrolled)
            for s in data.iter_submissions(cid, published_only=True)]
    chosen = rng.sample(subs, max(1, len(subs) // 100))
    for assignment_id, user_id in chosen:
        sb.grade_submission(assignment_id, user_id, round(rng.uniform(0, 10), 1))
    return len(chosen)
