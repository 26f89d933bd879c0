"""Local changes from the web UI, and course links.

A local change bumps the "local" writer in the version vector and is queued for every linked system.
"""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from app.models import Course, DiscussionPost, DiscussionTopic, HubCourseLink
from app.models.types import utcnow
from app.sync.hub.entities import LOCAL, POST, TOPIC, clean_title, content, entity_fields
from app.sync.hub.store import HubStore
from app.sync.sanitize import sanitize_html


class LocalEdits:
    def __init__(self, store: HubStore):
        self.store = store
        self.session = store.session

    def create_topic(self, course_id: int, title: str, body_html: str, *, author_name: str | None = None,
                     author_user_id: int | None = None) -> DiscussionTopic:
        with self.store.atomic():
            if self.session.get(Course, course_id) is None:
                raise ValueError("That course does not exist.")
            now = utcnow()
            topic = DiscussionTopic(course_id=course_id, title=clean_title(title), body_html=sanitize_html(body_html),
                                    author_name=author_name, author_user_id=author_user_id, origin_system=LOCAL,
                                    updated_by_system=LOCAL, created_at=now, updated_at=now)
            self.session.add(topic)
            self.session.flush()
            self._local_written(TOPIC, topic, {"created": content(TOPIC, entity_fields(TOPIC, topic))})
        return topic

    def post_reply(self, topic_id: int, body_html: str, *, author_name: str | None = None,
                   author_user_id: int | None = None) -> DiscussionPost:
        with self.store.atomic():
            topic = self.session.get(DiscussionTopic, topic_id)
            if topic is None or topic.deleted_at is not None:
                raise ValueError("That topic does not exist.")
            body = sanitize_html(body_html)
            if not body.strip():
                raise ValueError("Write something before posting.")
            now = utcnow()
            post = DiscussionPost(topic_id=topic_id, body_html=body, author_name=author_name,
                                  author_user_id=author_user_id, origin_system=LOCAL, updated_by_system=LOCAL,
                                  created_at=now, updated_at=now)
            self.session.add(post)
            self.session.flush()
            self._local_written(POST, post, {"created": content(POST, entity_fields(POST, post))})
        return post

    def edit_topic(self, topic_id: int, *, title: str | None = None, body_html: str | None = None) -> DiscussionTopic:
        with self.store.atomic():
            topic = self.session.get(DiscussionTopic, topic_id)
            if topic is None or topic.deleted_at is not None:
                raise ValueError("That topic does not exist.")
            before = content(TOPIC, entity_fields(TOPIC, topic))
            fields = {"title": clean_title(title) if title is not None else topic.title,
                      "body_html": sanitize_html(body_html) if body_html is not None else topic.body_html}
            if content(TOPIC, fields) != before:
                self.store.write(TOPIC, topic, fields, LOCAL, utcnow())
                self._local_written(TOPIC, topic, {"updated": {"before": before, "after": content(TOPIC, fields)}})
        return topic

    def edit_post(self, post_id: int, body_html: str) -> DiscussionPost:
        with self.store.atomic():
            post = self.session.get(DiscussionPost, post_id)
            if post is None or post.deleted_at is not None:
                raise ValueError("That post does not exist.")
            before = content(POST, entity_fields(POST, post))
            body = sanitize_html(body_html)
            if body != post.body_html:
                self.store.write(POST, post, {"body_html": body}, LOCAL, utcnow())
                self._local_written(POST, post, {"updated": {"before": before, "after": {"body_html": body}}})
        return post

    def _local_written(self, entity_type: str, entity, changes: dict) -> None:
        vector = self.store.vector(entity_type, entity.id).increment(LOCAL)
        self.store.set_vector(entity_type, entity.id, vector)
        targets = self.store.queue_deliveries(entity_type, entity, exclude=None)
        self.store.log("local_change", LOCAL, entity_type, entity.id,
                  {**changes, "vector": vector.as_dict(), "queued_for": targets}, None)

    # -- course links --------------------------------------------------------------------

    def link_containers(self, course_id: int, containers: Mapping[str, str], *,
                        user_id: int | None = None) -> list[HubCourseLink]:
        with self.store.atomic():
            course = self.session.get(Course, course_id)
            if course is None:
                raise ValueError("That course does not exist.")
            wanted = {"canvas": str(course.canvas_course_id), **{k: str(v) for k, v in containers.items()}}
            links = []
            for system, container in wanted.items():
                # Canvas ids are the owner's Canvas's: another instance's course 4242 is another course.
                instance = self.store.instance_of(system, course.user_id)
                taken = self.session.scalar(select(HubCourseLink).where(
                    HubCourseLink.system == system, HubCourseLink.instance == instance,
                    HubCourseLink.container_id == container, HubCourseLink.course_id != course_id))
                if taken is not None:
                    raise ValueError(f"That {system} container is already linked to another course.")
                link = self.store.link(course_id, system)
                if link is None:
                    link = HubCourseLink(course_id=course_id, system=system, instance=instance,
                                         container_id=container, created_by_user_id=user_id, created_at=utcnow())
                    self.session.add(link)
                elif (link.container_id, link.instance) != (container, instance):
                    link.container_id, link.instance = container, instance
                links.append(link)
            self.session.flush()
            queued = self._queue_existing(course_id)
            self.store.log("link_course", None, None, None,
                           {"course_id": course_id, "containers": wanted, "queued": queued}, None)
        return links

    def unlink_course(self, course_id: int) -> list[str]:
        """Stop keeping the course in step with every system; returns the systems it was linked to.
        Deliveries still queued find no link and skip; mappings stay, so a new link finds its copies."""
        with self.store.atomic():
            links = list(self.session.scalars(select(HubCourseLink).where(HubCourseLink.course_id == course_id)))
            for link in links:
                self.session.delete(link)
            systems = sorted(link.system for link in links)
            self.store.log("unlink_course", None, None, None, {"course_id": course_id, "systems": systems}, None)
        return systems

    def _queue_existing(self, course_id: int) -> int:
        """What was written before the link (on any side) is queued for the linked systems; a system
        already holding an entity skips its delivery without a write."""
        queued = 0
        topics = self.session.scalars(select(DiscussionTopic).where(DiscussionTopic.course_id == course_id,
                                                                    DiscussionTopic.deleted_at.is_(None))
                                      .order_by(DiscussionTopic.id)).all()
        for topic in topics:
            queued += bool(self.store.queue_deliveries(TOPIC, topic, exclude=None))
            for post in sorted(topic.posts, key=lambda p: p.id):
                if post.deleted_at is None:
                    queued += bool(self.store.queue_deliveries(POST, post, exclude=None))
        return queued
