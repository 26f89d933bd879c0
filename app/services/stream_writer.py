"""Write one stream's rows under one parent: diff by content hash, bulk upsert, mark the missing deleted."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.services.canvas_streams import Stream
from app.services.upsert import upsert

IN_CHUNK = 500
# write_pages writes pages in batches of about this many rows: one statement per page
# costs more per row (measured) and a batch is still a bounded share of a course.
WRITE_BATCH = 1000


@dataclass
class EntityCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: EntityCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted}


def write_stream(session: Session, stream: Stream, parent_id: int, rows: list[dict], *, now: datetime,
                 complete: bool) -> tuple[EntityCounts, dict[int, int]]:
    """Upsert `rows` (all of one parent) and return counts and {canvas id: local id}.

    Unchanged rows are not written. With `complete`, rows of this parent that Canvas no
    longer returns get `deleted_at`; a row that reappears is revived by its upsert.
    """
    model = stream.model
    canvas_col = getattr(model, stream.canvas_id)
    # A complete set is diffed against every row of the parent (to find deletions); a
    # partial one (an incremental page of changes, one course row) only reads its own rows.
    scope = None if complete else [row[stream.canvas_id] for row in rows]
    existing = {
        cid: (local_id, digest, deleted_at)
        for cid, local_id, digest, deleted_at in _select_chunked(
            session, select(canvas_col, model.id, model.content_hash, model.deleted_at).where(*stream.scope(parent_id)),
            canvas_col, scope)
    }
    counts = EntityCounts()
    changed: list[dict] = []
    for row in rows:
        known = existing.get(row[stream.canvas_id])
        if known is None:
            counts.created += 1
            changed.append(row)
        elif known[1] != row["content_hash"] or known[2] is not None:
            counts.updated += 1
            changed.append(row)
        else:
            counts.unchanged += 1
    upsert(session, model, changed, key=stream.key, keep=("first_seen_at",))

    if complete:
        seen = {row[stream.canvas_id] for row in rows}
        gone = [cid for cid, (_, _, deleted_at) in existing.items() if cid not in seen and deleted_at is None]
        counts.deleted = mark_deleted(session, stream, parent_id, gone, now=now)

    ids = {cid: local_id for cid, (local_id, _, _) in existing.items()}
    if counts.created:
        ids = dict(_select_chunked(session, select(canvas_col, model.id).where(*stream.scope(parent_id)),
                                   canvas_col, scope))
    return counts, ids


def _select_chunked(session: Session, stmt, canvas_col, canvas_ids: list[int] | None):
    """Rows of `stmt`, limited to `canvas_ids` when given (in chunks: IN lists have limits)."""
    if canvas_ids is None:
        yield from session.execute(stmt)
        return
    for start in range(0, len(canvas_ids), IN_CHUNK):
        yield from session.execute(stmt.where(canvas_col.in_(canvas_ids[start:start + IN_CHUNK])))


def mark_deleted(session: Session, stream: Stream, parent_id: int, canvas_ids: list[int], *, now: datetime) -> int:
    model = stream.model
    canvas_col = getattr(model, stream.canvas_id)
    for start in range(0, len(canvas_ids), IN_CHUNK):
        session.execute(
            update(model)
            .where(*stream.scope(parent_id), canvas_col.in_(canvas_ids[start:start + IN_CHUNK]))
            .values(deleted_at=now)
        )
    return len(canvas_ids)


def write_pages(session: Session, stream: Stream, parent_id: int, pages: Iterable[list],
                to_row: Callable[[object], dict | None], *, now: datetime, complete: bool) -> EntityCounts:
    """write_stream for a set that arrives in pages, upserted as they come (WRITE_BATCH rows at a time).

    Memory is a batch of rows plus the set of ids seen (to drop an object sent twice, e.g. by
    two overlapping incremental calls, and to find deletions), not the whole set. With
    `complete`, live rows of the parent whose Canvas id was not seen get `deleted_at`.
    """
    counts = EntityCounts()
    seen: set[int] = set()
    rows: list[dict] = []
    for page in pages:
        for item in page:
            row = to_row(item)
            if row is not None and row[stream.canvas_id] not in seen:
                seen.add(row[stream.canvas_id])
                rows.append(row)
        if len(rows) >= WRITE_BATCH:
            counts.add(write_stream(session, stream, parent_id, rows, now=now, complete=False)[0])
            rows = []
    if rows:
        counts.add(write_stream(session, stream, parent_id, rows, now=now, complete=False)[0])
    if complete:
        model = stream.model
        live = session.execute(select(getattr(model, stream.canvas_id)).where(
            *stream.scope(parent_id), model.deleted_at.is_(None))).scalars()
        gone = [cid for cid in live if cid not in seen]
        counts.deleted = mark_deleted(session, stream, parent_id, gone, now=now)
    return counts
