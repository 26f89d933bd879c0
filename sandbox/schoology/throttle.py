"""Schoology's request throttle: about 50 requests per 5 seconds per consumer key (reported,
unconfirmed), answered with 429. A sliding window: a request is admitted while fewer than
`limit` admitted requests fall in the last `window_s` seconds; refused ones do not count.
It runs before OAuth verification (an edge limiter), so a refused request's nonce is not
spent and the same signed request may be sent again.
"""
from __future__ import annotations

import threading
import time
from collections import deque

DEFAULT_LIMIT = 50
DEFAULT_WINDOW_S = 5.0


class SlidingWindowThrottle:
    def __init__(self, limit: int = DEFAULT_LIMIT, window_s: float = DEFAULT_WINDOW_S, enabled: bool = True,
                 retry_after: bool = False, clock=time.monotonic):
        self.limit = int(limit)
        self.window_s = float(window_s)
        self.enabled = enabled
        self.retry_after = retry_after  # whether Schoology sends Retry-After is unconfirmed: off by default
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def configure(self, *, limit: int | None = None, window_s: float | None = None, enabled: bool | None = None,
                  retry_after: bool | None = None) -> None:
        with self._lock:
            if limit is not None:
                self.limit = max(1, int(limit))
            if window_s is not None:
                self.window_s = max(0.01, float(window_s))
            if enabled is not None:
                self.enabled = bool(enabled)
            if retry_after is not None:
                self.retry_after = bool(retry_after)
            self._hits.clear()

    def admit(self, identity: str) -> float | None:
        """None when admitted; otherwise the seconds until a slot frees."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(identity, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, hits[0] + self.window_s - now)
            hits.append(now)
            return None
