"""Time helpers: Canvas renders times as ISO 8601 UTC with a ``Z`` and whole seconds."""
from __future__ import annotations

import calendar
import re
import time

# lib/api.rb Api::ISO8601_REGEX (canvas-lms): date, "T", time, optional fraction,
# optional zone. A bare date is not accepted by submitted_since / graded_since.
ISO8601_RE = re.compile(
    r"^(?P<year>[0-9]{4})-(?P<month>1[0-2]|0[1-9])-(?P<day>3[0-1]|0[1-9]|[1-2][0-9])"
    r"T(?P<hour>2[0-3]|[0-1][0-9]):(?P<minute>[0-5][0-9]):(?P<second>60|[0-5][0-9])"
    r"(?P<fraction>\.[0-9]+)?(?P<tz>Z|[+-](?:2[0-3]|[0-1][0-9]):[0-5][0-9])?$"
)
DATE_RE = re.compile(r"^(?P<year>[0-9]{4})-(?P<month>1[0-2]|0[1-9])-(?P<day>3[0-1]|0[1-9]|[1-2][0-9])$")

DAY = 86400.0


def now() -> float:
    """Wall-clock time as a float epoch (sub-second precision is kept internally)."""
    return time.time()


def iso(ts: float | None) -> str | None:
    """Render an epoch as Canvas does: ``2024-01-31T23:59:00Z`` (seconds truncated)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def parse_iso8601(value: str) -> float | None:
    """Parse a Canvas API datetime argument; None when it does not match Api::ISO8601_REGEX."""
    m = ISO8601_RE.match(value or "")
    if not m:
        return None
    second = min(int(m["second"]), 59)
    ts = calendar.timegm((int(m["year"]), int(m["month"]), int(m["day"]),
                          int(m["hour"]), int(m["minute"]), second, 0, 0, 0))
    if m["fraction"]:
        ts += float("0" + m["fraction"])
    tz = m["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hours, minutes = int(tz[1:3]), int(tz[4:6])
        ts -= sign * (hours * 3600 + minutes * 60)
    return float(ts)


def parse_date_or_time(value: str) -> float | None:
    """Planner arguments accept a date (``2024-01-31``) or an ISO 8601 time."""
    m = DATE_RE.match(value or "")
    if m:
        return float(calendar.timegm((int(m["year"]), int(m["month"]), int(m["day"]), 0, 0, 0, 0, 0, 0)))
    return parse_iso8601(value)


def coerce_time(value) -> float | None:
    """Accept None, an epoch, a datetime or an ISO string (used by the mutation API)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "timestamp"):
        if getattr(value, "tzinfo", None) is None:
            return float(calendar.timegm(value.timetuple()))
        return float(value.timestamp())
    ts = parse_date_or_time(str(value))
    if ts is None:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    return ts


def day_floor(ts: float) -> float:
    return float(int(ts // DAY) * DAY)
