"""Rows written into the course being synced, readable while that course's transaction is open.

A course is written in one transaction (a failure leaves its last good copy), so the
sync_run row can only say how many courses are done; on SQLite another connection
could not even write while that transaction holds the lock. The rows written so far
go to a small counter store instead: the `limits` library's storage (the one the login
limiter uses), ``memory://`` in one process and ``redis://...`` when several workers
serve the app, so the page polling a run sees the bar move inside a course.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from limits.storage import storage_from_string

EXPIRY_S = 6 * 3600  # a run's counters outlive any sync, then vanish by themselves
NAMESPACE = "canvasflow-sync-progress"


@dataclass(frozen=True)
class CourseProgress:
    written: int   # rows written so far in the course being written
    expected: int  # rows the course held after its last sync (0: not known)

    @property
    def fraction(self) -> float:
        """How far into the course, never 1 before its commit (the count may have grown)."""
        return min(0.95, self.written / self.expected) if self.expected else 0.0


class LiveProgress:
    def __init__(self, storage_uri: str = "memory://"):
        self.storage = storage_from_string(storage_uri)

    def _key(self, run_id: int, part: str) -> str:
        return f"{NAMESPACE}/{run_id}/{part}"

    def start_course(self, run_id: int, expected_rows: int) -> None:
        self.finish(run_id)
        if expected_rows > 0:
            self.storage.incr(self._key(run_id, "expected"), EXPIRY_S, amount=expected_rows)

    def rows_written(self, run_id: int, rows: int) -> None:
        if rows > 0:
            self.storage.incr(self._key(run_id, "written"), EXPIRY_S, amount=rows)

    def read(self, run_id: int) -> CourseProgress:
        return CourseProgress(int(self.storage.get(self._key(run_id, "written")) or 0),
                              int(self.storage.get(self._key(run_id, "expected")) or 0))

    def finish(self, run_id: int) -> None:
        for part in ("written", "expected"):
            self.storage.clear(self._key(run_id, part))


def live_progress_for(app: Flask) -> LiveProgress:
    found = app.extensions.get("live_progress")
    if found is None:
        found = app.extensions["live_progress"] = LiveProgress(app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
    return found
