"""Logging: one JSON object per line for machines, plain text for a terminal.

Our log calls already write `event=name key=value ...`; the JSON formatter lifts those
pairs into fields (run_id, user_id, course_id, phase, duration...), so a log pipeline
can filter on them without parsing text. Either format passes every line through
`redact`, a second line of defence: code never logs a token, and if a library does
(an Authorization header in a debug line, a token in a URL), it is masked here.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

from flask import Flask

SECRET_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9~._\-+/=]{6,}"), r"\1 [REDACTED]"),
    (re.compile(r"(?i)\b(access_token|api_key|api-key|token|password|secret)=([^\s&\"',;]+)"), r"\1=[REDACTED]"),
    (re.compile(r"(?i)(['\"](?:authorization|api-key|x-canvas-token)['\"]\s*:\s*['\"])[^'\"]+"), r"\1[REDACTED]"),
    (re.compile(r"\b\d{1,8}~[A-Za-z0-9]{16,}\b"), "[REDACTED]"),  # the shape of a Canvas access token
    # An OAuth callback's code and state, and a refresh token, in a URL (an access log line).
    (re.compile(r"(?i)([?&](?:code|state|refresh_token|client_secret)=)[^\s&\"']+"), r"\1[REDACTED]"),
    (re.compile(r"\bya29\.[A-Za-z0-9_\-]{8,}"), "[REDACTED]"),  # Google access tokens
    (re.compile(r"\b1//[A-Za-z0-9_\-]{8,}"), "[REDACTED]"),  # Google refresh tokens
    # The calendar feed's secret is its URL path; an access log line (werkzeug's) carries it.
    (re.compile(r"/calendar/[^/\s?\"']+\.ics"), "/calendar/[REDACTED].ics"),
]
PAIR = re.compile(r"(\w+)=(\"[^\"]*\"|\S+)")
INTS = {"run_id", "user_id", "course_id", "op_id", "admin_id", "attempts", "due", "requests"}


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def event_fields(message: str) -> dict:
    """The key=value pairs of an `event=...` message, numbers as numbers."""
    if "event=" not in message:
        return {}
    fields: dict = {}
    for key, raw in PAIR.findall(message):
        value: object = raw.strip('"')
        if key in INTS or key.endswith("_id"):
            try:
                value = int(raw)
            except ValueError:
                pass
        elif key.endswith(("_s", "seconds")):
            try:
                value = float(raw.rstrip("s"))
            except ValueError:
                pass
        fields[key] = value
    return fields


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        event = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": message}
        event.update({k: v for k, v in event_fields(message).items() if k not in event})
        if record.exc_info:
            event["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(event, default=str)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(app: Flask) -> None:
    """LOG_FORMAT json, text, or auto (text on a terminal, JSON otherwise); LOG_LEVEL."""
    fmt = app.config.get("LOG_FORMAT", "auto")
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if fmt == "json" else
                         RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.set_name("canvasflow")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "canvasflow"]:
        root.removeHandler(old)  # a second app in the same process replaces, not doubles, it
    root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # APScheduler logs every run of the one-second tick at INFO; only its warnings tell anything.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
