"""A controllable clock: real time plus an offset tests can advance (grace period, memoizer).

Discourse renders times as ISO 8601 UTC with milliseconds and a ``Z``
(``2024-01-31T23:59:00.123Z``).
"""
from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move forward (never back) by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += float(seconds)
        return self.now()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    millis = int(round((ts - int(ts)) * 1000))
    if millis == 1000:
        ts, millis = int(ts) + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(ts))) + f".{millis:03d}Z"
