"""Write one stream's rows under one parent: diff by content hash, bulk upsert, mark the missing deleted."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.services.canvas_streams import Stream
from app.services.upsert import PreparedUpsert, upsert

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
                 complete: bool, fresh: bool = False) -> tuple[EntityCounts, dict[int, int]]:
    """Upsert `rows` (all of one parent) and return counts and {canvas id: local id}.

    Unchanged rows are not written. With `complete`, rows of this parent that Canvas no
    longer returns get `deleted_at`; a row that reappears is revived by its upsert.
    `fresh`: the parent was created in this transaction, so it has no rows yet.
    """
    model = stream.model
    canvas_col = getattr(model, stream.canvas_id)
    # A complete set is diffed against every row of the parent (to find deletions); a
    # partial one (an incremental page of changes, one course row) only reads its own rows.
    scope = None if complete else [row[stream.canvas_id] for row in rows]
    existing = {} if fresh else {
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
    # Core execution on the session's connection (same transaction): plain rows, without the
    # ORM's per-row result processing (measured: most of the cost of reading a course's ids).
    # The ORM's autoflush is done by hand, so a row added through the session is seen.
    session.flush()
    connection = session.connection()
    if canvas_ids is None:
        yield from connection.execute(stmt)
        return
    for start in range(0, len(canvas_ids), IN_CHUNK):
        yield from connection.execute(stmt.where(canvas_col.in_(canvas_ids[start:start + IN_CHUNK])))


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


def write_pages(session: Session, stream: Stream, prepared: PreparedUpsert, parent_id: int, pages: Iterable[list],
                lookup: tuple[str, str, dict[int, int]], *, now: datetime, complete: bool,
                fresh: bool = False, on_page: Callable[[int], None] | None = None) -> EntityCounts:
    """write_stream for a set that arrives in pages of driver parameters (`prepared.params`,
    made in the fetching threads), upserted as they come, WRITE_BATCH rows at a time.

    The only per-row work here: the parent's local id and one looked-up local id go in
    (`lookup` = (column, column holding the Canvas id, {Canvas id: local id}); a row whose
    Canvas id is not in the map is dropped), an object sent twice (two overlapping
    incremental calls) is dropped, and unchanged rows (same content hash, live) are not
    written. `fresh`: the parent was created in this transaction, so it has no rows to
    diff against. Memory is a batch plus the set of ids seen, not the whole set. With
    `complete`, live rows of the parent whose Canvas id was not seen get `deleted_at` (a
    fresh parent has none: its rows' foreign key came in with it). `on_page(rows)` hears of
    each page once its rows are handed to the batch (the live progress bar).
    """
    parent_slot, id_slot, hash_slot = (prepared.slot(c) for c in (stream.parent, stream.canvas_id, "content_hash"))
    target_slot, source_slot = prepared.slot(lookup[0]), prepared.slot(lookup[1])
    local_ids = lookup[2]
    counts = EntityCounts()
    seen: set[int] = set()
    batch: list = []

    def flush() -> None:
        if fresh:
            counts.created += len(batch)
            prepared.execute(session, batch)
            return
        model = stream.model
        existing = {cid: (digest, deleted_at) for cid, digest, deleted_at in _select_chunked(
            session, select(getattr(model, stream.canvas_id), model.content_hash, model.deleted_at)
            .where(*stream.scope(parent_id)),
            getattr(model, stream.canvas_id), [row[id_slot] for row in batch])}
        changed = []
        for row in batch:
            known = existing.get(row[id_slot])
            if known is None:
                counts.created += 1
            elif known[0] != row[hash_slot] or known[1] is not None:
                counts.updated += 1
            else:
                counts.unchanged += 1
                continue
            changed.append(row)
        prepared.execute(session, changed)

    for page in pages:
        for row in page:
            local = local_ids.get(row[source_slot])
            cid = row[id_slot]
            if local is None or cid in seen:
                continue
            seen.add(cid)
            row[parent_slot] = parent_id
            row[target_slot] = local
            batch.append(row)
        if len(batch) >= WRITE_BATCH:
            flush()
            batch = []
        if on_page is not None:
            on_page(len(page))
    if batch:
        flush()
    if complete and not fresh:
        model = stream.model
        session.flush()
        live = session.connection().execute(select(getattr(model, stream.canvas_id)).where(
            *stream.scope(parent_id), model.deleted_at.is_(None))).scalars()
        gone = [cid for cid in live if cid not in seen]
        counts.deleted = mark_deleted(session, stream, parent_id, gone, now=now)
    return counts
