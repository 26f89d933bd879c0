"""Seeded fault draws the sandboxes share: the n-th faultable request draws the n-th number,
so a run with a given seed fails the same requests every time."""
from __future__ import annotations

import threading


class SeededFaults:
    """``rate`` of the draws answer one of ``kinds`` (chosen by the same generator), else None.
    A subclass names its ``FAULT_KINDS`` and decides which requests draw."""

    FAULT_KINDS: tuple[str, ...] = ()

    def __init__(self):
        self._lock = threading.Lock()

    def _checked(self, rate: float, kinds) -> tuple[float, tuple[str, ...]]:
        """(rate, kinds) validated; no kinds means all of them."""
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        kinds = tuple(str(k) for k in (kinds or self.FAULT_KINDS))
        unknown = set(kinds) - set(self.FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        return float(rate), kinds

    def _roll(self) -> str | None:
        """One draw; the caller holds ``_lock``."""
        roll = self._rng.random()
        kind = self._rng.choice(self.kinds)
        return kind if roll < self.rate else None
