"""A/B the sync's CPU time between source trees, alternating runs (for a noisy, shared machine).

    python -m bench.cpu_ab --tree /tmp/before --tree . --runs 5 --courses 5 --backends sqlite

One sandbox Canvas (in this process) serves every run; each run is a fresh database and a
`python -m bench.phase full` subprocess started in that tree, followed by an incremental
run with nothing changed. The trees take turns (A B A B ...), so a burst of load from
other work on the machine falls on both. Printed: per tree the median and spread of the
sync's CPU time (`cpu_s`: all threads of the syncing process, the sandbox not included)
and wall time. Wall time here is mostly the injected latency; CPU time is what the
changes to the CPU path move.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import EMAIL, Databases, add_user, mariadb_reachable, migrate  # noqa: E402
from bench.phase import make_app  # noqa: E402
from sandbox.canvas import CanvasSandbox  # noqa: E402


PROFILE: str | None = None  # --profile DIR: py-spy's collapsed stacks of each full sync go there


def run(tree: Path, phase: str, url: str) -> dict:
    cmd = [sys.executable, "-m", "bench.phase", phase, "--database-url", url, "--email", EMAIL]
    if PROFILE and phase == "full":
        out = Path(PROFILE) / f"{tree.name}-{len(list(Path(PROFILE).glob(tree.name + '-*')))}.txt"
        cmd = ["py-spy", "record", "--format", "raw", "--rate", "500", "--gil", "--threads", "-o", str(out), "--", *cmd]
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {phase} failed:\n{proc.stderr[-2000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", required=True, help="a source tree (repeat; first is A)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--courses", type=int, default=5)
    parser.add_argument("--assignments", type=int, default=50)
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--profile", help="a folder for py-spy's collapsed stacks of each full sync")
    args = parser.parse_args(argv)
    global PROFILE
    PROFILE = args.profile
    trees = [Path(t).resolve() for t in args.tree]
    backends = [b for b in args.backends.split(",") if b and (b != "mariadb" or mariadb_reachable())]
    sb = CanvasSandbox(courses=args.courses, assignments=args.assignments, students=args.students, seed=1,
                       latency_ms=args.latency_ms, throttle=True).start()
    dbs = Databases()
    results: dict = {}
    try:
        for backend in backends:
            for i in range(args.runs):
                for tree in trees:
                    url = dbs.new(backend)
                    app = make_app(url)
                    migrate(app)
                    add_user(app, sb)
                    sb.set_throttle(True)
                    full = run(tree, "full", url)
                    out = {"full": full}
                    if not args.no_incremental:
                        sb.set_throttle(True)
                        out["noop"] = run(tree, "incremental", url)
                    results.setdefault((backend, str(tree)), []).append(out)
                    print(f"[{backend}] run {i + 1} {tree.name}: full cpu {full['cpu_s']:.2f}s "
                          f"(writer {full.get('writer_cpu_s', 0):.2f}s, sys {full.get('sys_cpu_s', 0):.2f}s) wall "
                          f"{full['seconds']:.2f}s rows {full['rows']} rss {full['peak_rss_mb']:.0f} MB"
                          + (f"; noop cpu {out['noop']['cpu_s']:.2f}s rows {out['noop']['rows']}"
                             if "noop" in out else ""), flush=True)
    finally:
        sb.stop()
        dbs.close()
    print()
    for (backend, tree), runs in results.items():
        cpu = [r["full"]["cpu_s"] for r in runs]
        wall = [r["full"]["seconds"] for r in runs]
        writer = [r["full"].get("writer_cpu_s", 0) for r in runs]
        user = [r["full"]["cpu_s"] - r["full"].get("sys_cpu_s", 0) for r in runs]
        line = (f"{backend:<8}{Path(tree).name:<14} full cpu median {statistics.median(cpu):.2f}s "
                f"(user {statistics.median(user):.2f}s, writer {statistics.median(writer):.2f}s) "
                f"(min {min(cpu):.2f}, max {max(cpu):.2f}); wall median {statistics.median(wall):.2f}s; "
                f"rss median {statistics.median(r['full']['peak_rss_mb'] for r in runs):.0f} MB")
        if runs and "noop" in runs[0]:
            line += f"; noop cpu median {statistics.median(r['noop']['cpu_s'] for r in runs):.2f}s"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
