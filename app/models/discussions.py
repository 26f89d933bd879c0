"""The hub's tables: local discussions, where each lives in every system, and the hub's own records.

A topic or post is stored once here (body sanitized) and mapped to its copy in each
system (`hub_entity_map`: the system's id, the version and body the hub last synced
with it, and the version vector that copy reflects). Conflicts, a transaction log and
the pushed events already processed (replay detection) are kept beside them.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import LongText, UTCDateTime, utcnow


class DiscussionTopic(db.Model):
    __tablename__ = "discussion_topic"
    __table_args__ = (Index("ix_discussion_topic_course", "course_id", "deleted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(LongText, default="")  # sanitized (nh3)
    author_name: Mapped[str | None] = mapped_column(String(255))
    # The Canvas Flow user who wrote it here (None for a pulled post): edit rights follow it.
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    origin_system: Mapped[str] = mapped_column(String(32))  # where it was first written
    updated_by_system: Mapped[str] = mapped_column(String(32))  # who wrote the current version
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    posts: Mapped[list[DiscussionPost]] = relationship(back_populates="topic", order_by="DiscussionPost.id")


class DiscussionPost(db.Model):
    __tablename__ = "discussion_post"
    __table_args__ = (Index("ix_discussion_post_topic", "topic_id", "deleted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("discussion_topic.id", ondelete="CASCADE"))
    body_html: Mapped[str] = mapped_column(LongText, default="")
    author_name: Mapped[str | None] = mapped_column(String(255))
    # The Canvas Flow user who wrote it here (None for a pulled post): edit rights follow it.
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    origin_system: Mapped[str] = mapped_column(String(32))
    updated_by_system: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    topic: Mapped[DiscussionTopic] = relationship(back_populates="posts")


class HubCourseLink(db.Model):
    """A course's container in one system: its Canvas course id, its Discourse category id..."""

    __tablename__ = "hub_course_link"
    __table_args__ = (
        UniqueConstraint("course_id", "system"),
        UniqueConstraint("system", "instance", "container_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(32))
    # The instance the container id belongs to (a Canvas's host; "" for a system with one instance).
    instance: Mapped[str] = mapped_column(String(255), default="", server_default="")
    container_id: Mapped[str] = mapped_column(String(255))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubEntityMap(db.Model):
    """One local entity's copy in one system, and what the hub last synced with that copy."""

    __tablename__ = "hub_entity_map"
    __table_args__ = (
        UniqueConstraint("system", "instance", "entity_type", "external_id"),
        UniqueConstraint("entity_type", "local_id", "system"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[int] = mapped_column(Integer)
    system: Mapped[str] = mapped_column(String(32))
    instance: Mapped[str] = mapped_column(String(255), default="", server_default="")  # as HubCourseLink's
    external_id: Mapped[str] = mapped_column(String(255))
    last_version: Mapped[str | None] = mapped_column(String(64))  # the system's own edit counter
    last_title: Mapped[str | None] = mapped_column(String(500))
    last_body: Mapped[str | None] = mapped_column(LongText)  # as that system holds it (not sanitized)
    # The source text that system keeps beside its rendering (Discourse's raw): what echoes are compared on,
    # since its rendering changes after the fact (link attributes, previews) without an edit.
    last_raw: Mapped[str | None] = mapped_column(LongText)
    last_deleted: Mapped[bool] = mapped_column(default=False)
    # The local version vector this copy reflects: older than the entity's means "not delivered yet".
    synced_vector_json: Mapped[str] = mapped_column(Text, default="{}")
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def synced_vector(self) -> dict[str, int]:
        return json.loads(self.synced_vector_json or "{}")


class HubVersionVector(db.Model):
    """The version vector of one local entity: a counter per system that changed it."""

    __tablename__ = "hub_version_vector"

    entity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    local_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vector_json: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubConflict(db.Model):
    """A concurrent edit and how it was resolved: both versions, the rule, the result."""

    __tablename__ = "hub_conflict"
    __table_args__ = (Index("ix_hub_conflict_entity", "entity_type", "local_id"),
                      Index("ix_hub_conflict_created", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[int] = mapped_column(Integer)
    local_system: Mapped[str] = mapped_column(String(32))
    remote_system: Mapped[str] = mapped_column(String(32))
    local_json: Mapped[str] = mapped_column(LongText)
    remote_json: Mapped[str] = mapped_column(LongText)
    base_json: Mapped[str | None] = mapped_column(LongText)
    rule: Mapped[str] = mapped_column(String(64))
    winner: Mapped[str | None] = mapped_column(String(32))
    result_json: Mapped[str] = mapped_column(LongText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubTransaction(db.Model):
    """What one hub operation changed (ingest, delivery, local edit, resolution)."""

    __tablename__ = "hub_transaction"
    __table_args__ = (Index("ix_hub_transaction_created", "created_at"),
                      Index("ix_hub_transaction_entity", "entity_type", "local_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    operation_id: Mapped[int | None] = mapped_column(Integer)  # the sync_operation that ran it, if any
    action: Mapped[str] = mapped_column(String(32))
    system: Mapped[str | None] = mapped_column(String(32))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    local_id: Mapped[int | None] = mapped_column(Integer)
    changes_json: Mapped[str] = mapped_column(LongText, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubWebhookEvent(db.Model):
    """A pushed event already processed: a second delivery with the same id is ignored."""

    __tablename__ = "hub_webhook_event"
    __table_args__ = (UniqueConstraint("system", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
