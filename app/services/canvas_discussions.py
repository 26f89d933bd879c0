"""Canvas discussion topics and entries, for the hub's Canvas connector.

A thin view of `CanvasAPIService`'s public discussion calls (its shared client
retries GETs only: a POST is never repeated, the hub makes creates idempotent itself). Endpoints as in canvas-lms
discussion_topics_controller.rb / discussion_topics_api_controller.rb:

    GET/POST   /courses/:id/discussion_topics              (topics carry no updated_at)
    GET/PUT/DELETE /courses/:id/discussion_topics/:topic_id
    GET/POST   /courses/:id/discussion_topics/:topic_id/entries      (top-level, newest first)
    GET        /courses/:id/discussion_topics/:topic_id/entries/:entry_id/replies
    GET        /courses/:id/discussion_topics/:topic_id/entry_list?ids[]=...
    PUT/DELETE /courses/:id/discussion_topics/:topic_id/entries/:entry_id
"""
from __future__ import annotations

from app.services.canvas_api_service import CanvasAPIService


class CanvasDiscussions:
    def __init__(self, api: CanvasAPIService):
        self.api = api

    def close(self) -> None:
        self.api.close()

    # topics
    def topics(self, course_id: int | str) -> list[dict]:
        return self.api.get_discussion_topics(course_id)

    def topic(self, course_id: int | str, topic_id: int | str) -> dict:
        return self.api.get_discussion_topic(course_id, topic_id)

    def create_topic(self, course_id: int | str, title: str, message: str, *, published: bool = True) -> dict:
        return self.api.create_discussion_topic(course_id, title, message, published=published)

    def update_topic(self, course_id: int | str, topic_id: int | str, **fields) -> dict:
        return self.api.update_discussion_topic(course_id, topic_id, **fields)

    def delete_topic(self, course_id: int | str, topic_id: int | str) -> None:
        self.api.delete_discussion_topic(course_id, topic_id)

    # entries
    def entries(self, course_id: int | str, topic_id: int | str) -> list[dict]:
        return self.api.get_discussion_entries(course_id, topic_id)

    def replies(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> list[dict]:
        """An entry's direct replies (entries carry only their 10 newest in `recent_replies`)."""
        return self.api.get_discussion_replies(course_id, topic_id, entry_id)

    def entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> dict | None:
        found = self.api.get_discussion_entry_list(course_id, topic_id, [entry_id])
        return next((e for e in found if str(e.get("id")) == str(entry_id)), None)

    def create_entry(self, course_id: int | str, topic_id: int | str, message: str) -> dict:
        return self.api.create_discussion_entry(course_id, topic_id, message)

    def update_entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str, message: str) -> dict:
        return self.api.update_discussion_entry(course_id, topic_id, entry_id, message)

    def delete_entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> None:
        self.api.delete_discussion_entry(course_id, topic_id, entry_id)
