"""The outcome of one Canvas sync run: per-entity counts, request stats, errors."""
from __future__ import annotations

from dataclasses import dataclass, field

from app.models import SyncRun
from app.services.stream_writer import EntityCounts

ENTITIES = ("terms", "courses", "grade_categories", "assignments", "submissions")


@dataclass
class SyncResult:
    run_id: int | None
    status: str
    kind: str
    counts: dict[str, EntityCounts] = field(default_factory=lambda: {e: EntityCounts() for e in ENTITIES})
    requests: int = 0
    retries: int = 0
    throttles: int = 0
    bytes: int = 0
    seconds: float = 0.0
    course_errors: list[dict] = field(default_factory=list)
    # Courses Canvas no longer lets the user open (restricted stubs, "unauthorized" answers):
    # kept as last synced, not fetched, not failures.
    inaccessible: list[dict] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    joined: bool = False

    @property
    def ok(self) -> bool:
        return self.status == SyncRun.SUCCEEDED

    def as_dict(self) -> dict:
        return {
            **{entity: self.counts[entity].as_dict() for entity in ENTITIES},
            "requests": self.requests, "retries": self.retries, "throttles": self.throttles, "bytes": self.bytes,
            "seconds": round(self.seconds, 3), "course_errors": self.course_errors, "error_kind": self.error_kind,
            "inaccessible_courses": self.inaccessible,
        }

    def summary(self) -> str:
        parts = [f"{e}: +{c.created} ~{c.updated} ={c.unchanged} -{c.deleted}" for e, c in self.counts.items()]
        closed = f"; {len(self.inaccessible)} no longer open in Canvas" if self.inaccessible else ""
        return (f"{self.kind} sync {self.status} in {self.seconds:.1f}s; {'; '.join(parts)}{closed}; "
                f"requests={self.requests} retries={self.retries} throttles={self.throttles}")
