"""The hub's read side: course threads with where each post has reached, and the conflict log."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.models import DiscussionTopic, HubConflict, HubCourseLink, HubEntityMap, HubVersionVector
from app.sync.hub.entities import (HUB_DELIVERY, LOCAL, POST, TOPIC, LostEdit, Op, ThreadPost,
                                   ThreadTopic, content, entity_fields)
from app.sync.hub.store import HubStore
from app.sync.hub.versions import VersionVector


class ThreadReader:
    def __init__(self, store: HubStore):
        self.store = store
        self.session = store.session

    def course_thread(self, course_id: int) -> list[ThreadTopic]:
        """The course's topics and posts from every side as one thread, with where each has reached."""
        systems = [link.system for link in self.session.scalars(
            select(HubCourseLink).where(HubCourseLink.course_id == course_id).order_by(HubCourseLink.system))]
        topics = list(self.session.scalars(select(DiscussionTopic).where(DiscussionTopic.course_id == course_id)
                                           .order_by(DiscussionTopic.created_at, DiscussionTopic.id)))
        posts_of = {t.id: sorted(t.posts, key=lambda p: (p.created_at, p.id)) for t in topics}
        ids = {TOPIC: [t.id for t in topics], POST: [p.id for posts in posts_of.values() for p in posts]}
        reached, failures = self._reached(ids, systems)
        lost = self._lost_local_edits(ids, {(TOPIC, t.id): t for t in topics} | {
            (POST, p.id): p for posts in posts_of.values() for p in posts})
        out = []
        for topic in topics:
            posts = [ThreadPost(id=p.id, body_html=p.body_html, author_name=p.author_name,
                                origin_system=p.origin_system, created_at=p.created_at, updated_at=p.updated_at,
                                deleted=p.deleted_at is not None, reached=reached[(POST, p.id)],
                                failures=failures.get((POST, p.id), {}), author_user_id=p.author_user_id,
                                lost_edit=lost.get((POST, p.id)))
                     for p in posts_of[topic.id]]
            out.append(ThreadTopic(id=topic.id, body_html=topic.body_html, author_name=topic.author_name,
                                   origin_system=topic.origin_system, created_at=topic.created_at,
                                   updated_at=topic.updated_at, deleted=topic.deleted_at is not None,
                                   reached=reached[(TOPIC, topic.id)], failures=failures.get((TOPIC, topic.id), {}),
                                   author_user_id=topic.author_user_id, lost_edit=lost.get((TOPIC, topic.id)),
                                   title=topic.title, posts=posts))
        return out

    def conflicts(self, *, limit: int = 50, entity_type: str | None = None,
                  local_id: int | None = None) -> list[dict[str, Any]]:
        """The latest recorded conflicts (of one entity when given), newest first, decoded for the conflict log."""
        stmt = select(HubConflict).order_by(HubConflict.id.desc()).limit(limit)
        if entity_type:
            stmt = stmt.where(HubConflict.entity_type == entity_type)
        if local_id is not None:
            stmt = stmt.where(HubConflict.local_id == local_id)
        return [{"id": row.id, "entity_type": row.entity_type, "local_id": row.local_id, "rule": row.rule,
                 "winner": row.winner, "created_at": row.created_at, "local": json.loads(row.local_json),
                 "remote": json.loads(row.remote_json),
                 "base": json.loads(row.base_json) if row.base_json else None,
                 "result": json.loads(row.result_json)} for row in self.session.scalars(stmt)]

    def _lost_local_edits(self, ids_by_type: dict[str, list[int]], entities: dict) -> dict[tuple[str, int], LostEdit]:
        """Per entity, the latest conflict in which an edit written here lost, while what stands still differs
        from it (once the author writes it again, or a later edit supersedes the conflict, the notice goes)."""
        latest: dict[tuple[str, int], HubConflict] = {}
        for entity_type, ids in ids_by_type.items():
            if not ids:
                continue
            rows = self.session.scalars(select(HubConflict).where(HubConflict.entity_type == entity_type,
                                                                  HubConflict.local_id.in_(ids))
                                        .order_by(HubConflict.id))
            for row in rows:
                latest[(entity_type, row.local_id)] = row
        out = {}
        for key, row in latest.items():
            if row.local_system != LOCAL:
                continue
            entity_type = key[0]
            mine = content(entity_type, json.loads(row.local_json)["fields"])
            kept = content(entity_type, json.loads(row.result_json)["fields"])
            standing = content(entity_type, entity_fields(entity_type, entities[key]))
            if mine == kept or standing == mine:
                continue  # the edit made it (whole, or merged in), or stands again
            remote = json.loads(row.remote_json)
            out[key] = LostEdit(conflict_id=row.id, fields=mine, kept_from=row.winner or row.remote_system,
                                kept_written_at=remote.get("updated_at"), kept_clock=remote.get("clock") or "writer",
                                rule=row.rule)
        return out

    def _reached(self, ids_by_type: dict[str, list[int]], systems: list[str]):
        """Per entity and linked system: synced, pending or failed, and each failed delivery's (id, reason).
        Three queries per entity type for the whole thread (vectors, mappings, deliveries), not three per
        entity and system."""
        vectors: dict[tuple[str, int], VersionVector] = {}
        synced: dict[tuple[str, int, str], VersionVector] = {}
        last_delivery: dict[tuple[str, int, str], tuple[int, str, str | None]] = {}
        for entity_type, ids in ids_by_type.items():
            if not ids or not systems:
                continue
            for row in self.session.scalars(select(HubVersionVector).where(
                    HubVersionVector.entity_type == entity_type, HubVersionVector.local_id.in_(ids))):
                vectors[(entity_type, row.local_id)] = VersionVector.from_json(row.vector_json)
            for row in self.session.scalars(select(HubEntityMap).where(
                    HubEntityMap.entity_type == entity_type, HubEntityMap.local_id.in_(ids),
                    HubEntityMap.system.in_(systems))):
                synced[(entity_type, row.local_id, row.system)] = VersionVector(row.synced_vector)
            for op_id, entity_id, target, status, error in self.session.execute(
                    select(Op.id, Op.entity_id, Op.target_system, Op.status, Op.error_message).where(
                        Op.kind == HUB_DELIVERY, Op.entity_type == entity_type,
                        Op.entity_id.in_([str(i) for i in ids]), Op.target_system.in_(systems)).order_by(Op.id)):
                # in id order: the latest wins
                last_delivery[(entity_type, int(entity_id), target)] = (op_id, status, error)
        out: dict[tuple[str, int], dict[str, str]] = {}
        failures: dict[tuple[str, int], dict[str, tuple[int, str]]] = {}
        for entity_type, ids in ids_by_type.items():
            for local_id in ids:
                vector = vectors.get((entity_type, local_id), VersionVector.from_json(None))
                states = {}
                for system in systems:
                    mapped = synced.get((entity_type, local_id, system))
                    if mapped is not None and mapped.dominates(vector):
                        states[system] = "synced"
                        continue
                    op_id, status, error = last_delivery.get((entity_type, local_id, system), (None, None, None))
                    if status == Op.FAILED:
                        states[system] = "failed"
                        failures.setdefault((entity_type, local_id), {})[system] = (
                            op_id, error or "The delivery failed; no reason was recorded.")
                    else:
                        states[system] = "pending"
                out[(entity_type, local_id)] = states
        return out, failures
