"""Version vectors: compare, increment, merge (app/sync/hub/versions.py)."""
from __future__ import annotations

import pytest

from app.sync.hub.versions import Order, VersionVector


def test_the_design_example_second_is_after_the_first():
    first = VersionVector({"device1": 2, "device2": 3})
    second = VersionVector({"device1": 2, "device2": 4, "device3": 1})
    assert second.compare(first) is Order.AFTER
    assert first.compare(second) is Order.BEFORE


@pytest.mark.parametrize("a, b, expected", [
    ({"canvas": 1}, {"canvas": 1}, Order.IDENTICAL),
    ({}, {}, Order.IDENTICAL),
    ({"canvas": 1, "discourse": 0}, {"canvas": 1}, Order.IDENTICAL),  # a missing system counts as 0
    ({"canvas": 1}, {"canvas": 2}, Order.BEFORE),
    ({"canvas": 2, "discourse": 1}, {"canvas": 2}, Order.AFTER),
    ({"canvas": 2, "discourse": 1}, {"canvas": 3, "discourse": 0}, Order.CONCURRENT),
    ({"canvas": 1}, {"discourse": 1}, Order.CONCURRENT),
])
def test_compare(a, b, expected):
    assert VersionVector(a).compare(VersionVector(b)) is expected


def test_increment_and_merge_return_new_vectors():
    base = VersionVector({"canvas": 1})
    bumped = base.increment("discourse").increment("discourse")
    assert base.as_dict() == {"canvas": 1}
    assert bumped.as_dict() == {"canvas": 1, "discourse": 2}
    merged = VersionVector({"canvas": 3}).merge(bumped)
    assert merged.as_dict() == {"canvas": 3, "discourse": 2}
    assert merged.dominates(bumped) and not bumped.dominates(merged)


def test_json_round_trip_and_bad_counters():
    vector = VersionVector({"local": 4, "canvas": 1})
    assert VersionVector.from_json(vector.to_json()) == vector
    assert VersionVector.from_json(None) == VersionVector()
    with pytest.raises(ValueError):
        VersionVector({"canvas": -1})
