"""Discourse's RateLimiter for admin API keys: at most ``limit`` requests per ``window`` seconds.

A sliding window (Discourse keeps the last ``limit`` timestamps in Redis): when the
window is full the request is refused with 429, ``Retry-After`` and
``extras.wait_seconds`` = seconds until the oldest one leaves the window. Real defaults:
60/min per admin key (``max_admin_api_reqs_per_minute``); tests shrink the window.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque

ADMIN_LIMIT = 60
WINDOW_S = 60.0
ERROR_CODE = "admin_api_key_rate_limit"


def time_left(seconds: int) -> str:
    """RateLimiter.time_left (config/locales/server.en.yml rate_limiter.*)."""
    if seconds <= 3:
        return "a few seconds"
    if seconds < 60:
        return f"{seconds} seconds"
    if seconds < 3600:
        minutes = seconds // 60
        return f"{minutes} minute" + ("s" if minutes != 1 else "")
    hours = seconds // 3600
    return f"{hours} hour" + ("s" if hours != 1 else "")


def limit_body(wait: int) -> dict:
    left = time_left(wait)
    return {"errors": [f"You've performed this action too many times. Please wait {left} before trying again."],
            "error_type": "rate_limit", "extras": {"wait_seconds": wait, "time_left": left}}


class RateLimiter:
    def __init__(self, limit: int = ADMIN_LIMIT, window_s: float = WINDOW_S, enabled: bool = True):
        self.configure(limit, window_s, enabled)
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def configure(self, limit: int | None = None, window_s: float | None = None, enabled: bool | None = None):
        if limit is not None:
            if int(limit) < 1:
                raise ValueError("limit must be at least 1")
            self.limit = int(limit)
        if window_s is not None:
            if float(window_s) <= 0:
                raise ValueError("window must be positive")
            self.window_s = float(window_s)
        if enabled is not None:
            self.enabled = bool(enabled)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def perform(self, key: str) -> float | None:
        """Record one request; None when allowed, else the seconds to wait (nothing recorded)."""
        if not self.enabled:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return self.window_s - (now - hits[0])
            hits.append(now)
            return None


def wait_header(seconds: float) -> int:
    """Whole seconds, at least 1, as Discourse sends them."""
    return max(1, math.ceil(seconds))
