"""The Discourse routes a sync client uses, over a ``Forum``.

``handle(request)`` returns ``(status, json_payload, extra_headers)``; errors are
``ForumError``s rendered as Discourse's ``{"errors": [...], "error_type": ...}``.
Lists follow TopicQuery: ``per_page`` (default 30, at most 100), ``page`` from 0, and
``more_topics_url`` only when the page is full (so a full last page is followed by an
empty one). ``/t/external_id/{id}.json`` answers 301 to the topic's URL, like
TopicsController#show_by_external_id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from .forum import Forum, ForumError, User, not_found
from .serialize import category_json, post_json, topic_list_item, topic_view_json

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    params: dict  # the body (JSON or form), merged over nothing
    user: User | None
    base_url: str = ""  # scheme://host of the request, for absolute redirects (Rails redirect_to)

    def arg(self, name: str, default=None):
        values = self.query.get(name)
        return values[-1] if values else self.params.get(name, default)


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ForumError(400, [f"Invalid parameters: {name}"], "invalid_parameters") from None


def _require_user(request: Request) -> User:
    if request.user is None:
        raise ForumError(403, "You need to be logged in to do that.", "not_logged_in")
    return request.user


ROUTES: list[tuple[str, re.Pattern, str]] = [
    ("GET", re.compile(r"^/categories\.json$"), "categories"),
    ("GET", re.compile(r"^/latest\.json$"), "latest"),
    ("GET", re.compile(r"^/c/(?:[^/]+/)?(?P<id>\d+)(?:/l/latest)?\.json$"), "category_topics"),
    ("GET", re.compile(r"^/t/external_id/(?P<eid>[^/]+)\.json$"), "topic_by_external_id"),
    ("GET", re.compile(r"^/t/(?P<id>\d+)/posts\.json$"), "topic_posts"),
    ("GET", re.compile(r"^/t/(?:[^/]+/)?(?P<id>\d+)\.json$"), "topic"),
    ("DELETE", re.compile(r"^/t/(?P<id>\d+)\.json$"), "delete_topic"),
    ("POST", re.compile(r"^/posts\.json$"), "create_post"),
    ("GET", re.compile(r"^/posts/(?P<id>\d+)\.json$"), "post"),
    ("PUT", re.compile(r"^/posts/(?P<id>\d+)\.json$"), "edit_post"),
    ("DELETE", re.compile(r"^/posts/(?P<id>\d+)\.json$"), "delete_post"),
    ("PUT", re.compile(r"^/posts/(?P<id>\d+)/recover\.json$"), "recover_post"),
    ("GET", re.compile(r"^/posts/(?P<id>\d+)/revisions/(?P<rev>latest|\d+)\.json$"), "revision"),
]


class DiscourseApi:
    def __init__(self, forum: Forum):
        self.forum = forum

    def handle(self, request: Request) -> tuple[int, dict | list | None, list[tuple[str, str]]]:
        for method, pattern, name in ROUTES:
            m = pattern.match(request.path)
            if m and method == request.method:
                with self.forum.lock:
                    return getattr(self, name)(request, **m.groupdict())
        raise not_found()

    # ------------------------------------------------------------------ lists
    def categories(self, request):
        cats = sorted(self.forum.categories.values(), key=lambda c: c.position)
        return 200, {"category_list": {"can_create_category": bool(request.user and request.user.staff),
                                       "categories": [category_json(self.forum, c) for c in cats]}}, []

    def _topic_list(self, request, topics, base_path: str):
        per_page = min(MAX_PER_PAGE, max(1, _int(request.arg("per_page", DEFAULT_PER_PAGE), "per_page")))
        page = max(0, _int(request.arg("page", 0), "page"))
        order = request.arg("order") or "activity"
        key = {"created": lambda t: t.created_at, "activity": lambda t: t.bumped_at,
               "default": lambda t: t.bumped_at}.get(order, lambda t: t.bumped_at)
        ascending = str(request.arg("ascending", "false")).lower() == "true"
        ordered = sorted(topics, key=lambda t: (key(t), t.id), reverse=not ascending)
        chunk = ordered[page * per_page:(page + 1) * per_page]
        topic_list = {"can_create_topic": request.user is not None, "per_page": per_page,
                      "topics": [topic_list_item(self.forum, t) for t in chunk]}
        if len(chunk) == per_page:
            params = {k: request.arg(k) for k in ("order", "ascending", "per_page") if request.arg(k) is not None}
            params["page"] = page + 1
            topic_list["more_topics_url"] = f"{base_path}?{urlencode(params)}"
        users = {t.user_id for t in chunk}
        return 200, {"users": [{"id": u, "username": self.forum.users[u].username} for u in users
                               if u in self.forum.users], "topic_list": topic_list}, []

    def latest(self, request):
        return self._topic_list(request, self.forum.category_topics(None), "/latest")

    def category_topics(self, request, id):
        category = self.forum.categories.get(int(id))
        if category is None:
            raise not_found()
        return self._topic_list(request, self.forum.category_topics(category.id),
                                f"/c/{category.slug}/{category.id}/l/latest")

    # ------------------------------------------------------------------ topics
    def topic(self, request, id):
        topic = self.forum.topic(int(id), with_deleted=bool(request.user and request.user.staff
                                                             and request.arg("show_deleted") == "true"))
        include_raw = str(request.arg("include_raw", "")).lower() in ("true", "1")
        return 200, topic_view_json(self.forum, topic, include_raw=include_raw), []

    def topic_by_external_id(self, request, eid):
        topic = self.forum.topic_by_external_id(eid)
        return 301, None, [("Location", f"{request.base_url}/t/{topic.slug}/{topic.id}.json")]

    def topic_posts(self, request, id):
        topic = self.forum.topic(int(id))
        visible = self.forum.visible_post_ids(topic)
        wanted = request.query.get("post_ids[]") or request.query.get("post_ids") or []
        ids = [_int(v, "post_ids") for v in wanted] if wanted else visible[:20]
        include_raw = str(request.arg("include_raw", "")).lower() in ("true", "1")
        posts = [post_json(self.forum, self.forum.posts[pid], add_raw=include_raw) for pid in ids if pid in visible]
        return 200, {"post_stream": {"posts": posts}, "id": topic.id}, []

    def delete_topic(self, request, id):
        self.forum.delete_topic(_require_user(request), int(id))
        return 200, None, []

    # ------------------------------------------------------------------ posts
    def create_post(self, request):
        user = _require_user(request)
        params = {k: v for k, v in request.params.items()}
        for name in ("title", "raw", "category", "topic_id", "external_id", "reply_to_post_number",
                     "skip_validations", "created_at"):
            if name not in params and request.arg(name) is not None:
                params[name] = request.arg(name)
        if isinstance(params.get("skip_validations"), str):
            params["skip_validations"] = params["skip_validations"].lower() == "true"
        if not str(params.get("raw") or "").strip():
            raise ForumError(422, ["Body is too short (minimum is 20 characters)"])
        return 200, self.forum.create_post(user, params, api=True), []

    def post(self, request, id):
        staff = bool(request.user and request.user.staff)
        return 200, post_json(self.forum, self.forum.post(int(id), with_deleted=staff), add_raw=True), []

    def edit_post(self, request, id):
        user = _require_user(request)
        post = request.params.get("post")
        if not isinstance(post, dict):
            # form-encoded: post[raw]=...
            post = {k[5:-1]: v for k, v in request.params.items() if k.startswith("post[") and k.endswith("]")}
        if not post:
            raise ForumError(400, ["param is missing or the value is empty: post"], "invalid_parameters")
        original = post.get("original_text") or post.get("raw_old")
        title = request.params.get("title") or post.get("title")
        result = self.forum.edit_post(user, int(id), raw=post.get("raw"), title=title, original_text=original,
                                      edit_reason=post.get("edit_reason"))
        return 200, {"post": result}, []

    def delete_post(self, request, id):
        self.forum.delete_post(_require_user(request), int(id))
        return 200, None, []

    def recover_post(self, request, id):
        return 200, self.forum.recover_post(_require_user(request), int(id)), []

    def revision(self, request, id, rev):
        post = self.forum.post(int(id))
        if not post.revisions:
            raise not_found()
        number = max(post.revisions) if rev == "latest" else int(rev)
        revision = post.revisions.get(number)
        if revision is None:
            raise not_found()
        editor = self.forum.users.get(revision["user_id"])
        numbers = sorted(post.revisions)
        body = {
            "created_at": revision["created_at"], "post_id": post.id, "current_revision": number,
            "previous_revision": number - 1 if number > 2 else None,
            "next_revision": next((n for n in numbers if n > number), None),
            "first_revision": numbers[0], "last_revision": numbers[-1], "current_version": number,
            "version_count": post.version, "username": editor.username if editor else None,
            "edit_reason": revision.get("edit_reason"), "wiki": False,
        }
        from .clock import iso

        body["created_at"] = iso(revision["created_at"])
        if "raw" in revision:
            before, after = revision["raw"]
            body["body_changes"] = {"side_by_side_markdown": {"before": before, "after": after}}
        if "title" in revision:
            body["title_changes"] = {"before": revision["title"][0], "after": revision["title"][1]}
        return 200, body, []
