"""Fault injection, deterministic for a seed: the n-th API request draws the n-th number.

Kinds: ``500 502 503`` (error pages as nginx/Rails render them), ``drop`` (the socket
closes without a response, nothing done) and ``lost`` (the request IS processed, then the
socket closes before the answer: the client cannot tell whether its write happened).
Only authenticated API requests are faulted.
"""
from __future__ import annotations

import random

from ..fault_draw import SeededFaults

FAULT_KINDS = ("500", "502", "503", "drop", "lost")
ERROR_BODIES = {
    500: (b'{"errors":["Oops! That page doesn\'t exist or is private."],"error_type":"server_error"}',
          "application/json; charset=utf-8"),
    502: (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
          b"</body></html>\n", "text/html"),
    503: (b"<html><head><title>503 Service Unavailable</title></head><body><center><h1>503 Service "
          b"Temporarily Unavailable</h1></center></body></html>\n", "text/html"),
}


class FaultInjector(SeededFaults):
    FAULT_KINDS = FAULT_KINDS

    def __init__(self, rate: float = 0.0, seed: int | None = 0, kinds=FAULT_KINDS):
        super().__init__()
        self.configure(rate, seed, kinds)

    def configure(self, rate: float, seed: int | None = 0, kinds=None, methods=None) -> None:
        rate, kinds = self._checked(rate, kinds)
        with self._lock:
            self.rate, self.seed, self.kinds = rate, seed, kinds
            # Only these methods are faulted (None: all), e.g. ["PUT"] to fail edits only.
            self.methods = tuple(m.upper() for m in methods) if methods else None
            self._rng = random.Random(seed)

    def draw(self, method: str) -> str | None:
        with self._lock:
            if self.rate <= 0.0 or (self.methods and method.upper() not in self.methods):
                return None
            return self._roll()
