"""Canvas's leaky-bucket request throttle (RequestThrottle middleware), per access token.

Each request is charged ``up_front`` units when it arrives and keeps them while in flight;
when it finishes the up-front charge is refunded and its real cost added. The bucket
leaks ``outflow`` units per second. A request that arrives while the bucket is over the
high-water mark is rejected. The real cost is the request's own processing time in
seconds (Canvas uses CPU + database seconds), so one request at a time can never fill
the bucket (it leaks 10 units/s and a request costs at most its own duration), while
~15 requests in flight at once (15 x 50 > 700) trip it.
"""
from __future__ import annotations

import threading
import time

HIGH_WATER_MARK = 700.0
OUTFLOW = 10.0
UP_FRONT = 50.0


def rate_limit_body(status: int) -> bytes:
    phrase = {403: "Forbidden", 429: "Too Many Requests"}.get(status, "Forbidden")
    return f"{status} {phrase} (Rate Limit Exceeded)".encode()


def fmt_units(value: float) -> str:
    """Floats as Ruby prints them (``0.0``, ``699.9875``)."""
    return repr(round(max(value, 0.0), 6) + 0.0)


class LeakyBucket:
    def __init__(self, hwm: float = HIGH_WATER_MARK, outflow: float = OUTFLOW, up_front: float = UP_FRONT):
        self.hwm = hwm
        self.outflow = outflow
        self.up_front = up_front
        self.level = 0.0
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def _leak(self) -> None:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.stamp) * self.outflow)
        self.stamp = now

    def reserve(self, enforce: bool = True) -> bool:
        """Charge the up-front cost; False (nothing charged) when over the high-water mark."""
        with self.lock:
            self._leak()
            if enforce and self.level > self.hwm:
                return False
            self.level += self.up_front
            return True

    def settle(self, cost: float) -> float:
        """Refund the up-front charge, add the real cost; returns the remaining capacity."""
        with self.lock:
            self._leak()
            self.level = max(0.0, self.level - self.up_front + cost)
            return self.hwm - self.level

    def remaining(self) -> float:
        with self.lock:
            self._leak()
            return self.hwm - self.level


class Throttle:
    """One bucket per client identity (the access token, or the peer address without one)."""

    def __init__(self, enabled: bool = True, status: int = 403, hwm: float = HIGH_WATER_MARK,
                 outflow: float = OUTFLOW, up_front: float = UP_FRONT, retry_after: float | None = None):
        if status not in (403, 429):
            raise ValueError("throttle status must be 403 or 429")
        self.enabled = enabled
        self.status = status
        # Canvas itself sends no Retry-After when it throttles; a proxy in front of it may.
        self.retry_after = retry_after
        self.hwm, self.outflow, self.up_front = hwm, outflow, up_front
        self._buckets: dict[str, LeakyBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, identity: str) -> LeakyBucket:
        with self._lock:
            b = self._buckets.get(identity)
            if b is None:
                b = self._buckets[identity] = LeakyBucket(self.hwm, self.outflow, self.up_front)
            return b

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
