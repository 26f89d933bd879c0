"""Done-when: 50 courses x 100 assignments x 200 students starts in < 10 s, pages in < 50 ms."""
from __future__ import annotations

import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sandbox.canvas import CanvasSandbox, build_parser

from .helpers import TIMEOUT, parse_link, session

ROOT = Path(__file__).resolve().parents[2]


def _read_lines(stream, out: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        out.put(line)
    out.put(None)


def test_cli_starts_big_dataset_fast_and_serves_full_pages_fast():
    cmd = [sys.executable, "-m", "sandbox.canvas", "--courses", "50", "--assignments", "100",
           "--students", "200", "--port", "0"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        url = token = None
        deadline = t0 + 10
        while (url is None or token is None) and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            assert line is not None, "sandbox exited early"
            url = url or (m.group(0) if (m := re.search(r"http://127\.0\.0\.1:\d+", line)) else None)
            token = token or (m.group(1) if (m := re.search(r"Access token: (\S+)", line)) else None)
        started_in = time.monotonic() - t0
        assert url and token, "no URL/token printed within 10 s"
        assert started_in < 10, started_in

        class Remote:
            api_url = url + "/api/v1"
            base_url = url

        s = session(Remote, token)
        first = s.get(f"{url}/api/v1/courses/101/students/submissions",
                      params={"student_ids[]": "all", "per_page": 100}, timeout=TIMEOUT)
        assert first.status_code == 200 and len(first.json()) == 100  # warm-up (materializes the course)
        next_url = parse_link(first.headers["Link"])["next"]
        timings = []
        for _ in range(7):
            t = time.perf_counter()
            r = s.get(next_url, timeout=TIMEOUT)
            timings.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()) == 100
            next_url = parse_link(r.headers["Link"])["next"]
        assert statistics.median(timings) < 0.050, timings
        summary = s.get(f"{url}/__sandbox__/data", timeout=TIMEOUT).json()
        assert summary["submissions"] == 1_000_000 and summary["courses"] == 50
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_in_process_scale_and_lazy_generation():
    t = time.monotonic()
    with CanvasSandbox(courses=50, assignments=100, students=200, seed=2) as sb:
        assert time.monotonic() - t < 5
        assert sb.data.submission_count() == 1_000_000
        assert len(sb.data._subs) == 0  # nothing generated until asked
        s = session(sb)
        r = s.get(f"{sb.api_url}/courses/150/students/submissions",
                  params={"student_ids[]": "all", "per_page": 100, "order": "graded_at"}, timeout=TIMEOUT)
        assert r.status_code == 200 and len(r.json()) == 100
        assert list(sb.data._subs) == [150]


def test_cli_parser_defaults_and_loopback_only():
    args = build_parser().parse_args([])
    assert (args.port, args.token, args.throttle, args.throttle_status, args.faults) == (
        8765, "sandbox-token", True, 403, 0.0)
    args = build_parser().parse_args(["--no-throttle", "--throttle-status", "429", "--faults", "0.1",
                                      "--latency-ms", "50", "--seed", "3"])
    assert (args.throttle, args.throttle_status, args.faults, args.latency_ms, args.seed) == (False, 429, 0.1, 50, 3)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--host", "0.0.0.0"])
    with pytest.raises(ValueError):
        CanvasSandbox(host="0.0.0.0")
