"""The benchmark's report: the per-backend table, the target lines, and the --json payload."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

# Measured on MariaDB (4 courses x 50 x 100, after ANALYZE) before migration 0005 compressed the raw JSON.
BYTES_PER_SUBMISSION_BEFORE = 1142


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
    f = r["floor"]
    print(f"{'fetch-only floor':<18}{f['seconds']:>9.2f}{f['canvas_requests']:>10}{f['canvas_throttles']:>10}"
          f"{f['retries']:>9}{f['peak_rss_mb']:>12.1f}   full/floor {r['full_s'] / f['seconds']:.2f}x "
          f"({f['concurrency']} in flight, bodies read, not decoded)")
    print(f"{'lower bound':<18}{lb:>9.2f}{r['lower_bound']['requests']:>10}"
          f"   (median request {r['lower_bound']['request_s'] * 1000:.1f} ms, {r['lower_bound']['slots']} slots, "
          f"mean cost {r['lower_bound']['cost']:.4f})")
    print(f"database size after the full sync: {r['database_mb']} MB ({r['phases']['full']['rows']} rows written), "
          f"{r['bytes_per_submission']} bytes per submission row (data + indexes)")
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
        lines.append(f"full sync vs baseline: {x:.1f}x (target >= 15x) {'MET' if x >= 15 else 'MISSED'}")
    y = r["full_s"] / r["lower_bound_s"]
    lines.append(f"full sync vs network lower bound: {y:.2f}x (information: the sandbox's CPU is not in it)")
    f = r["full_s"] / r["floor_s"]
    lines.append(f"full sync vs fetch-only floor: {f:.2f}x (target <= 1.5x) {'MET' if f <= 1.5 else 'MISSED'}")
    if r["baseline_full_s"] and r["incremental_noop_s"]:
        z = r["baseline_full_s"] / r["incremental_noop_s"]
        lines.append(f"incremental noop vs baseline full: {z:.0f}x (target >= 60x) {'MET' if z >= 60 else 'MISSED'}")
    if r.get("bytes_per_submission"):
        b = r["bytes_per_submission"]
        lines.append(f"bytes per submission row: {b:.0f} (target <= {BYTES_PER_SUBMISSION_BEFORE / 2:.0f}, half of "
                     f"{BYTES_PER_SUBMISSION_BEFORE} before migration 0005) {'MET' if b <= BYTES_PER_SUBMISSION_BEFORE / 2 else 'MISSED'}")
    if r.get("incremental_noop_requests_per_course") is not None:
        n = r["incremental_noop_requests_per_course"]
        lines.append(f"incremental noop requests per course (course lists aside): {n:.2f} (target <= 2) "
                     f"{'MET' if n <= 2 else 'MISSED'}")
    if "upsert_micro" in r:
        m = r["upsert_micro"]["ratio"]
        lines.append(f"bulk upsert vs raw executemany: {m:.2f}x (target <= 1.5x) {'MET' if m <= 1.5 else 'MISSED'}")
    return lines


def machine_info() -> dict:
    return {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
            "platform": platform.platform()}


def write_json(path: str, started, machine: dict, size: dict, latency_ms: float, wall_s: float,
               results: dict) -> None:
    Path(path).write_text(json.dumps({
        "date": started.isoformat(timespec="seconds"), "machine": machine, "data": size,
        "latency_ms": latency_ms, "wall_s": wall_s, "results": results}, indent=2, default=str))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
