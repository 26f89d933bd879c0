"""Logs: JSON lines with the event's fields for machines, secrets masked in every format."""
from __future__ import annotations

import json
import logging
import subprocess
import sys

from app.ops.logs import JSONFormatter, RedactingFormatter, event_fields, redact
from tests.helpers import make_canvas_user
from tests.fixtures.workers import ROOT, database_url, worker_env

TOKEN = "7~Zq8rT3stT0kenValueThatMustNeverLeak"


def test_event_messages_become_fields():
    fields = event_fields("event=course_synced run_id=12 user_id=3 course_id=904 phase=write duration_s=0.250")
    assert fields == {"event": "course_synced", "run_id": 12, "user_id": 3, "course_id": 904, "phase": "write",
                      "duration_s": 0.25}
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "event=sync_end user_id=%s run_id=%s",
                               (3, 12), None)
    line = json.loads(JSONFormatter().format(record))
    assert line["event"] == "sync_end" and line["run_id"] == 12 and line["level"] == "INFO"


def test_secrets_are_masked_whatever_their_shape():
    for text in (f"Authorization: Bearer {TOKEN}", f"GET /api/v1/courses?access_token={TOKEN}",
                 f"headers={{'Authorization': 'Bearer {TOKEN}'}}", f"token {TOKEN}", f"bad token {TOKEN[:30]}"):
        assert TOKEN[2:20] not in redact(text), text


def test_every_log_line_of_a_sync_is_json_without_the_token(app, make_canvas_sandbox):
    sb = make_canvas_sandbox(token=TOKEN, courses=2, assignments=4, students=4)
    user = make_canvas_user(sb, token=TOKEN)
    env = worker_env(database_url(), LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "run", "canvas", "sync", "--email", user.email],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line parses
    assert TOKEN not in proc.stderr and TOKEN not in proc.stdout
    courses = [e for e in events if e.get("event") == "course_synced"]
    assert len(courses) == 2 and all({"run_id", "user_id", "course_id", "phase", "duration_s"} <= e.keys()
                                     for e in courses)
    assert any(e.get("event") == "sync_end" and e["user_id"] == user.id for e in events)
    assert any(e["logger"].startswith("urllib3") for e in events)  # library debug lines are JSON too


def test_calendar_feed_secret_is_masked_in_access_log_lines():
    secret = "Xq3v_9LkS2mN8pQ-r4tYw7zA1bC5dE6fG0hJ2kL4mN6"
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - - [01/Dec/2026 08:00:00] "%s" %s -',
                               ("127.0.0.1", f"GET /calendar/{secret}.ics HTTP/1.1", "304"), None)
    for formatter in (JSONFormatter(), RedactingFormatter("%(message)s")):
        line = formatter.format(record)
        assert secret not in line and secret[:12] not in line
        assert "GET /calendar/[REDACTED].ics HTTP/1.1" in line.replace('\\"', '"')


def test_oauth_callback_code_state_and_google_tokens_are_masked():
    line = ('"GET /auth/canvas/callback?code=4f1c9a0d2be7&state=Zq8xWm3 HTTP/1.1" 302 - '
            "refresh ya29.a0AfB_byC1234567890 with 1//0gLkJmnopqrstuvw")
    masked = redact(line)
    for secret in ("4f1c9a0d2be7", "Zq8xWm3", "ya29.a0AfB_byC1234567890", "1//0gLkJmnopqrstuvw"):
        assert secret not in masked
    assert "/auth/canvas/callback?code=[REDACTED]&state=[REDACTED]" in masked
