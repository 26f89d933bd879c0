"""Failed-login limits, counted in shared storage so they hold across gunicorn workers.

Keyed twice: per account (whatever the address, so guesses spread over many addresses
are limited too) and per client address (with a larger allowance, so one client cannot
spray many accounts). Only failures count, and a success clears its account's count,
which is why this uses the `limits` library (the engine under Flask-Limiter) directly
rather than a decorator that counts requests. RATELIMIT_STORAGE_URI picks the storage:
memory:// for one process, redis://... when several workers serve the app (production
refuses memory:// with more than one worker). Behind a proxy the address is the
client's only with PROXY_TRUSTED_HOPS set (ProxyFix).
"""
from __future__ import annotations

from flask import current_app
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

WINDOW_S = 300


class LoginRateLimiter:
    def __init__(self, per_account: int, per_address: int, *, storage_uri: str = "memory://",
                 window_s: int = WINDOW_S, namespace: str = "canvasflow-login"):
        self.storage = storage_from_string(storage_uri)
        self.window = MovingWindowRateLimiter(self.storage)
        self.per_account = RateLimitItemPerSecond(per_account, window_s, namespace=namespace)
        self.per_address = RateLimitItemPerSecond(per_address, window_s, namespace=namespace)

    def _keys(self, address: str, email: str):
        return ((self.per_account, ("acct", email)), (self.per_address, ("addr", address)))

    def blocked(self, address: str, email: str) -> bool:
        return any(not self.window.test(item, *key) for item, key in self._keys(address, email))

    def record_failure(self, address: str, email: str) -> None:
        for item, key in self._keys(address, email):
            self.window.hit(item, *key)

    def record_success(self, address: str, email: str) -> None:
        self.window.clear(self.per_account, "acct", email)

    def reset(self) -> None:
        self.storage.reset()


def limiter() -> LoginRateLimiter:
    app = current_app._get_current_object()
    found = app.extensions.get("login_rate_limiter")
    if found is None:
        found = app.extensions["login_rate_limiter"] = LoginRateLimiter(
            int(app.config.get("LOGIN_RATE_LIMIT", 10)), int(app.config.get("LOGIN_RATE_LIMIT_PER_ADDRESS", 50)),
            storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
    return found


def reset_limiter() -> LoginRateLimiter:
    """Password-reset e-mails: a few per account and per address, so nobody floods an inbox."""
    app = current_app._get_current_object()
    found = app.extensions.get("reset_rate_limiter")
    if found is None:
        found = app.extensions["reset_rate_limiter"] = LoginRateLimiter(
            3, 20, storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"), window_s=3600,
            namespace="canvasflow-reset")
    return found
