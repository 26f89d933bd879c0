"""Version vectors: per synced entity, one counter per system that changed it.

`a.compare(b)` says where `a` stands relative to `b`: IDENTICAL (same counters),
BEFORE (b has seen everything a has, and more), AFTER (a has seen everything b has,
and more), CONCURRENT (each has a change the other has not seen: a conflict). A
missing system counts as 0. Vectors are immutable; increment and merge return new ones.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum


class Order(str, Enum):
    IDENTICAL = "identical"
    BEFORE = "before"
    AFTER = "after"
    CONCURRENT = "concurrent"


class VersionVector:
    __slots__ = ("_counters",)

    def __init__(self, counters: Mapping[str, int] | None = None):
        counters = dict(counters or {})
        for system, count in counters.items():
            if not isinstance(count, int) or count < 0:
                raise ValueError(f"version counter for {system!r} must be a non-negative integer, not {count!r}")
        self._counters = {system: count for system, count in counters.items() if count}

    @classmethod
    def from_json(cls, text: str | None) -> VersionVector:
        return cls(json.loads(text) if text else {})

    def to_json(self) -> str:
        return json.dumps(self._counters, sort_keys=True)

    def as_dict(self) -> dict[str, int]:
        return dict(self._counters)

    def __getitem__(self, system: str) -> int:
        return self._counters.get(system, 0)

    def increment(self, system: str) -> VersionVector:
        return VersionVector({**self._counters, system: self[system] + 1})

    def merge(self, other: VersionVector) -> VersionVector:
        systems = set(self._counters) | set(other._counters)
        return VersionVector({s: max(self[s], other[s]) for s in systems})

    def compare(self, other: VersionVector) -> Order:
        systems = set(self._counters) | set(other._counters)
        ahead = any(self[s] > other[s] for s in systems)
        behind = any(self[s] < other[s] for s in systems)
        if ahead and behind:
            return Order.CONCURRENT
        if ahead:
            return Order.AFTER
        if behind:
            return Order.BEFORE
        return Order.IDENTICAL

    def dominates(self, other: VersionVector) -> bool:
        """True when this vector has seen everything `other` has (identical or after)."""
        return self.compare(other) in (Order.IDENTICAL, Order.AFTER)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionVector) and self._counters == other._counters

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._counters.items())))

    def __repr__(self) -> str:
        return f"VersionVector({self._counters})"
