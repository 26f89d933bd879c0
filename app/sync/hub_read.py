"""The hub's read side (a mixin of Hub, app/sync/hub.py): course threads and the conflict log."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from app.models import DiscussionTopic, HubConflict, HubCourseLink
from app.sync.hub_model import HUB_DELIVERY, POST, TOPIC, Op, ThreadPost, ThreadTopic
from app.sync.versions import VersionVector


class ReadMixin:
    def course_thread(self, course_id: int) -> list[ThreadTopic]:
        """The course's topics and posts from every side as one thread, with where each has reached."""
        systems = [link.system for link in self.session.scalars(
            select(HubCourseLink).where(HubCourseLink.course_id == course_id).order_by(HubCourseLink.system))]
        topics = list(self.session.scalars(select(DiscussionTopic).where(DiscussionTopic.course_id == course_id)
                                           .order_by(DiscussionTopic.created_at, DiscussionTopic.id)))
        out = []
        for topic in topics:
            posts = [ThreadPost(id=p.id, body_html=p.body_html, author_name=p.author_name,
                                origin_system=p.origin_system, created_at=p.created_at, updated_at=p.updated_at,
                                deleted=p.deleted_at is not None, reached=self._reached(POST, p.id, systems))
                     for p in sorted(topic.posts, key=lambda p: (p.created_at, p.id))]
            out.append(ThreadTopic(id=topic.id, body_html=topic.body_html, author_name=topic.author_name,
                                   origin_system=topic.origin_system, created_at=topic.created_at,
                                   updated_at=topic.updated_at, deleted=topic.deleted_at is not None,
                                   reached=self._reached(TOPIC, topic.id, systems), title=topic.title, posts=posts))
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

    def _reached(self, entity_type: str, local_id: int, systems: Iterable[str]) -> dict[str, str]:
        vector = self.vector(entity_type, local_id)
        out = {}
        for system in systems:
            mapping = self._mapping_for(entity_type, local_id, system)
            if mapping is not None and VersionVector(mapping.synced_vector).dominates(vector):
                out[system] = "synced"
                continue
            last = self.session.scalar(select(Op.status).where(
                Op.kind == HUB_DELIVERY, Op.entity_type == entity_type, Op.entity_id == str(local_id),
                Op.target_system == system).order_by(Op.id.desc()).limit(1))
            out[system] = "failed" if last == Op.FAILED else "pending"
        return out
