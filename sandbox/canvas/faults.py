"""Fault injection, deterministic for a seed: the n-th API request draws the n-th number.

Kinds: ``500 502 503 504`` (error statuses), ``slow`` (sleeps ``slow_s`` before answering,
beyond a client's timeout), ``drop`` (closes the socket without a response), ``truncated``
(promises a Content-Length, sends half the body, closes), ``malformed`` (a complete 200
whose body is broken JSON) and ``throttle`` (a rate-limit 403/429 out of turn).
Faults apply only to authenticated ``/api/v1`` requests.
"""
from __future__ import annotations

import random

from ..fault_draw import SeededFaults

FAULT_KINDS = ("500", "502", "503", "504", "slow", "drop", "truncated", "malformed", "throttle")
DEFAULT_SLOW_S = 35.0

ERROR_BODIES = {
    500: (b'{"errors":[{"message":"An error occurred."}],"error_report_id":424242}', "application/json; charset=utf-8"),
    502: (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
          b"</center></body></html>\n", "text/html"),
    503: (b"<html><head><title>503 Service Unavailable</title></head><body><center><h1>503 Service "
          b"Temporarily Unavailable</h1></center></body></html>\n", "text/html"),
    504: (b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway "
          b"Time-out</h1></center></body></html>\n", "text/html"),
}


class FaultInjector(SeededFaults):
    FAULT_KINDS = FAULT_KINDS

    def __init__(self, rate: float = 0.0, seed: int | None = 0, kinds=FAULT_KINDS, slow_s: float = DEFAULT_SLOW_S):
        super().__init__()
        self.configure(rate, seed, kinds, slow_s)

    def configure(self, rate: float, seed: int | None = 0, kinds=None, slow_s: float | None = None,
                  path_prefix: str | None = None) -> None:
        rate, kinds = self._checked(rate, kinds)
        with self._lock:
            self.rate = rate
            self.seed = seed
            self.kinds = kinds
            if slow_s is not None:
                self.slow_s = float(slow_s)
            elif not hasattr(self, "slow_s"):
                self.slow_s = DEFAULT_SLOW_S
            self._rng = random.Random(seed)
            self.drawn = 0
            # Only requests whose path starts with this are faulted (one course, one endpoint).
            self.path_prefix = path_prefix

    def draw(self, path: str = "") -> str | None:
        """The fault for the next request, or None."""
        with self._lock:
            if self.rate <= 0.0 or (self.path_prefix and not path.startswith(self.path_prefix)):
                return None
            self.drawn += 1
            return self._roll()
