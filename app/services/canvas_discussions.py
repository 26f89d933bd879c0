"""Canvas discussion topics and entries, for the hub's Canvas connector.

Rides on a `CanvasAPIService`: its pooled session, throttling, retries (GET only: a
POST is never repeated by the transport, the hub makes creates idempotent itself),
error mapping and Link-header pagination. Endpoints as in canvas-lms
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
        return self.api._get_list(f"courses/{course_id}/discussion_topics", {})

    def topic(self, course_id: int | str, topic_id: int | str) -> dict:
        return self.api._expect(self.api._get_json(f"courses/{course_id}/discussion_topics/{topic_id}"), dict)

    def create_topic(self, course_id: int | str, title: str, message: str, *, published: bool = True) -> dict:
        return self.api._send("POST", f"courses/{course_id}/discussion_topics",
                              {"title": title, "message": message, "published": published})

    def update_topic(self, course_id: int | str, topic_id: int | str, **fields) -> dict:
        return self.api._send("PUT", f"courses/{course_id}/discussion_topics/{topic_id}", fields)

    def delete_topic(self, course_id: int | str, topic_id: int | str) -> None:
        self.api._request("DELETE", self.api._url(f"courses/{course_id}/discussion_topics/{topic_id}"))

    # entries
    def entries(self, course_id: int | str, topic_id: int | str) -> list[dict]:
        return self.api._get_list(f"courses/{course_id}/discussion_topics/{topic_id}/entries", {})

    def replies(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> list[dict]:
        """An entry's direct replies (entries carry only their 10 newest in `recent_replies`)."""
        return self.api._get_list(f"courses/{course_id}/discussion_topics/{topic_id}/entries/{entry_id}/replies", {})

    def entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> dict | None:
        found = self.api._expect(self.api._get_json(f"courses/{course_id}/discussion_topics/{topic_id}/entry_list",
                                                    {"ids[]": [str(entry_id)]}), list)
        return next((e for e in found if str(e.get("id")) == str(entry_id)), None)

    def create_entry(self, course_id: int | str, topic_id: int | str, message: str) -> dict:
        return self.api._send("POST", f"courses/{course_id}/discussion_topics/{topic_id}/entries", {"message": message})

    def update_entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str, message: str) -> dict:
        return self.api._send("PUT", f"courses/{course_id}/discussion_topics/{topic_id}/entries/{entry_id}",
                              {"message": message})

    def delete_entry(self, course_id: int | str, topic_id: int | str, entry_id: int | str) -> None:
        path = f"courses/{course_id}/discussion_topics/{topic_id}/entries/{entry_id}"
        self.api._request("DELETE", self.api._url(path))
