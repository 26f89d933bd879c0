"""`python -m sandbox.discourse` serves a real forum; `flask sandbox discourse` forwards its options."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import requests

from tests.helpers import stop_process


def test_flask_sandbox_discourse_forwards_options(cli):
    result = cli.invoke(args=["sandbox", "discourse", "--help"])
    assert "--throttle-limit" in result.output and "--webhook-url" in result.output


def test_module_serves_until_stopped():
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.discourse", "--port", "0", "--categories", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"running at (http://127\.0\.0\.1:\d+)", line)
        assert m, line
        deadline = time.monotonic() + 5
        health = None
        while time.monotonic() < deadline:
            try:
                health = requests.get(m[1] + "/__sandbox__/health", timeout=2).json()
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert health and health["status"] == "ok" and health["categories"] == 2  # Uncategorized + 1
        r = requests.get(m[1] + "/categories.json", headers={"Api-Key": "sandbox-key", "Api-Username": "system"},
                         timeout=2)
        assert r.status_code == 200
    finally:
        stop_process(proc)
