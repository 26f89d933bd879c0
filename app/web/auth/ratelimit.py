"""A small in-process sliding-window limiter for failed logins.

Keyed twice: per (client address, email) so one account cannot be guessed at, and per
client address alone (with a larger allowance) so one client cannot spray many accounts.
One instance per app, kept in ``app.extensions``, so tests and apps never share state.
"""
from __future__ import annotations

import threading
import time
from collections import deque

from flask import current_app

WINDOW_S = 300


class LoginRateLimiter:
    def __init__(self, per_account: int, per_address: int, window_s: float = WINDOW_S, clock=time.monotonic):
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _count(self, key: str, now: float) -> int:
        window = self._failures.get(key)
        if not window:
            return 0
        while window and now - window[0] > self.window_s:
            window.popleft()
        if not window:
            del self._failures[key]
            return 0
        return len(window)

    def blocked(self, address: str, email: str) -> bool:
        now = self.clock()
        with self._lock:
            return (self._count(f"acct|{address}|{email}", now) >= self.per_account
                    or self._count(f"addr|{address}", now) >= self.per_address)

    def record_failure(self, address: str, email: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"acct|{address}|{email}", f"addr|{address}"):
                self._failures.setdefault(key, deque()).append(now)

    def record_success(self, address: str, email: str) -> None:
        with self._lock:
            self._failures.pop(f"acct|{address}|{email}", None)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


def limiter() -> LoginRateLimiter:
    app = current_app._get_current_object()
    found = app.extensions.get("login_rate_limiter")
    if found is None:
        per_account = int(app.config.get("LOGIN_RATE_LIMIT", 10))
        found = app.extensions["login_rate_limiter"] = LoginRateLimiter(per_account, per_account * 5)
    return found
