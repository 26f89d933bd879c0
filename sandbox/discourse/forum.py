"""The forum's state: users, categories, topics, posts, revisions; every change under one lock.

Behaviour modelled on Discourse (lib/post_revisor.rb, app/controllers/posts_controller.rb):

* ``version`` starts at 1. An edit bumps it unless it is a "ninja edit": the same editor
  as the last one, within ``editing_grace_period`` (300 s) of the last version, and a
  small change (at most ``editing_grace_period_max_diff_high_trust`` = 400 changed
  characters for staff, 100 otherwise). An edit that changes nothing is a no-op.
* ``original_text`` that differs from the post's current raw is an edit conflict (409).
* A topic's ``external_id`` is unique; ``GET /t/external_id/{id}`` finds it.
* The API create call is memoized for 120 s per identical request (``DistributedMemoizer``
  in posts_controller#create), so an API retry of the same POST returns the same post.
* Validations: title at least 15 characters, post at least 20 (first post 20), unless a
  staff caller passes ``skip_validations`` on create.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from .clock import Clock
from .cook import cook, excerpt, post_process

GRACE_PERIOD_S = 300
MAX_DIFF_HIGH_TRUST = 400
MAX_DIFF = 100
MEMOIZE_S = 120
EDIT_CONFLICT = "That post was edited by another user and your changes can no longer be saved."


class ForumError(Exception):
    """An API-level refusal: status and Discourse's JSON error body."""

    def __init__(self, status: int, errors: list[str] | str, error_type: str | None = None, **extra):
        self.status = status
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        self.error_type = error_type
        self.extra = extra
        super().__init__("; ".join(self.errors))

    def body(self) -> dict:
        out: dict = {"errors": self.errors}
        if self.error_type:
            out["error_type"] = self.error_type
        out.update(self.extra)
        return out


def not_found() -> ForumError:
    return ForumError(404, "The requested URL or resource could not be found.", "not_found")


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:80] or "topic"


@dataclass
class User:
    id: int
    username: str
    name: str
    admin: bool = False
    trust_level: int = 1

    @property
    def staff(self) -> bool:
        return self.admin


@dataclass
class Category:
    id: int
    name: str
    slug: str
    description: str = ""
    position: int = 0


@dataclass
class Post:
    id: int
    topic_id: int
    post_number: int
    user_id: int
    raw: str
    cooked: str
    created_at: float
    updated_at: float
    reply_to_post_number: int | None = None
    version: int = 1
    last_version_at: float = 0.0
    last_editor_id: int = 0
    edit_reason: str | None = None
    deleted_at: float | None = None
    revisions: dict[int, dict] = field(default_factory=dict)  # version -> {"raw": [old, new], "title": ...}


@dataclass
class Topic:
    id: int
    title: str
    slug: str
    category_id: int
    user_id: int
    created_at: float
    bumped_at: float
    last_posted_at: float
    external_id: str | None = None
    deleted_at: float | None = None
    post_ids: list[int] = field(default_factory=list)
    highest_post_number: int = 0


@dataclass
class Event:
    """Something a webhook reports: ``post``/``topic`` type, its name, and the object's id."""

    event_type: str
    event_name: str
    object_id: int
    category_id: int | None


class Forum:
    def __init__(self, clock: Clock | None = None, *, min_title_length: int = 15, min_post_length: int = 20,
                 grace_period_s: float = GRACE_PERIOD_S):
        self.clock = clock or Clock()
        self.min_title_length = min_title_length
        self.min_post_length = min_post_length
        self.grace_period_s = grace_period_s
        self.lock = threading.RLock()
        self.users: dict[int, User] = {}
        self.categories: dict[int, Category] = {}
        self.topics: dict[int, Topic] = {}
        self.posts: dict[int, Post] = {}
        self._next = {"user": 1, "category": 1, "topic": 1, "post": 1}
        self._memo: dict[str, tuple[float, dict]] = {}
        self.listeners: list = []  # callables(Event), e.g. the webhook emitter
        self.add_user("system", "system", admin=True, user_id=-1)

    # ------------------------------------------------------------------ setup
    def _id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] += 1
        return value

    def add_user(self, username: str, name: str | None = None, *, admin: bool = False, trust_level: int = 1,
                 user_id: int | None = None) -> User:
        with self.lock:
            uid = user_id if user_id is not None else self._id("user")
            user = User(uid, username, name or username.title(), admin, 4 if admin else trust_level)
            self.users[uid] = user
            return user

    def user_by_name(self, username: str) -> User | None:
        lowered = (username or "").lower()
        return next((u for u in self.users.values() if u.username.lower() == lowered), None)

    def add_category(self, name: str, slug: str | None = None, description: str = "") -> Category:
        with self.lock:
            cid = self._id("category")
            cat = Category(cid, name, slug or slugify(name), description, len(self.categories))
            self.categories[cid] = cat
            return cat

    # ------------------------------------------------------------------ reads
    def topic(self, topic_id: int, *, with_deleted: bool = False) -> Topic:
        topic = self.topics.get(topic_id)
        if topic is None or (topic.deleted_at is not None and not with_deleted):
            raise not_found()
        return topic

    def post(self, post_id: int, *, with_deleted: bool = False) -> Post:
        post = self.posts.get(post_id)
        if post is None or (post.deleted_at is not None and not with_deleted):
            raise not_found()
        return post

    def topic_by_external_id(self, external_id: str) -> Topic:
        topic = next((t for t in self.topics.values()
                      if t.external_id == external_id and t.deleted_at is None), None)
        if topic is None:
            raise not_found()
        return topic

    def visible_post_ids(self, topic: Topic) -> list[int]:
        return [pid for pid in topic.post_ids if self.posts[pid].deleted_at is None]

    def category_topics(self, category_id: int | None) -> list[Topic]:
        return [t for t in self.topics.values()
                if t.deleted_at is None and (category_id is None or t.category_id == category_id)]

    # ------------------------------------------------------------------ writes
    def _validate(self, raw: str, title: str | None, skip: bool) -> None:
        if skip:
            return
        errors = []
        if title is not None and len(title.strip()) < self.min_title_length:
            errors.append(f"Title is too short (minimum is {self.min_title_length} characters)")
        if len((raw or "").strip()) < self.min_post_length:
            errors.append(f"Body is too short (minimum is {self.min_post_length} characters)")
        if errors:
            raise ForumError(422, errors)

    def create_post(self, user: User, params: dict, *, api: bool = False) -> dict:
        """POST /posts.json: a topic (title + category) or a reply (topic_id). Returns the serialized post."""
        from .serialize import post_json  # serializers read the forum; imported late to keep modules apart

        with self.lock:
            signature = None
            if api:
                signature = hashlib.sha256(json.dumps([user.id, params], sort_keys=True, default=str)
                                           .encode()).hexdigest()
                hit = self._memo.get(signature)
                if hit and self.clock.now() - hit[0] <= MEMOIZE_S:
                    return hit[1]
            raw = str(params.get("raw") or "")
            skip = bool(params.get("skip_validations")) and user.staff
            now = self.clock.now()
            events: list[Event] = []
            if params.get("topic_id") not in (None, ""):
                topic = self.topic(int(params["topic_id"]))
                self._validate(raw, None, skip)
                reply_to = params.get("reply_to_post_number")
                post = self._new_post(topic, user, raw, now, int(reply_to) if reply_to else None)
                topic.bumped_at = topic.last_posted_at = now
            else:
                title = str(params.get("title") or "")
                if not title.strip():
                    raise ForumError(422, ["Title can't be blank"])
                self._validate(raw, title, skip)
                category_id = params.get("category")
                if category_id in (None, ""):
                    raise ForumError(422, ["Category can't be blank"])
                if int(category_id) not in self.categories:
                    raise ForumError(422, ["Category can't be blank"])
                external_id = params.get("external_id") or None
                if external_id is not None:
                    external_id = str(external_id)
                    if len(external_id) > 50:
                        raise ForumError(422, ["External is too long (maximum is 50 characters)"])
                    if any(t.external_id == external_id for t in self.topics.values()):
                        raise ForumError(422, ["External has already been taken"])
                topic = Topic(self._id("topic"), title.strip(), slugify(title), int(category_id), user.id,
                              now, now, now, external_id)
                self.topics[topic.id] = topic
                post = self._new_post(topic, user, raw, now, None)
                events.append(Event("topic", "topic_created", topic.id, topic.category_id))
            events.append(Event("post", "post_created", post.id, topic.category_id))
            result = post_json(self, post, add_raw=True)
            if signature:
                self._memo = {k: v for k, v in self._memo.items() if now - v[0] <= MEMOIZE_S}
                self._memo[signature] = (now, result)
        self._emit(events)
        return result

    def _new_post(self, topic: Topic, user: User, raw: str, now: float, reply_to: int | None) -> Post:
        topic.highest_post_number += 1
        post = Post(self._id("post"), topic.id, topic.highest_post_number, user.id, raw, cook(raw), now, now,
                    reply_to, 1, now, user.id)
        self.posts[post.id] = post
        topic.post_ids.append(post.id)
        return post

    def _ninja_edit(self, post: Post, editor: User, new_raw: str, now: float) -> bool:
        if post.last_editor_id != editor.id or now - post.last_version_at > self.grace_period_s:
            return False
        max_diff = MAX_DIFF_HIGH_TRUST if (editor.staff or editor.trust_level > 1) else MAX_DIFF
        if abs(len(post.raw) - len(new_raw)) > max_diff:
            return False
        changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in
                      difflib.SequenceMatcher(None, post.raw, new_raw, autojunk=False).get_opcodes()
                      if tag != "equal")
        return changed <= max_diff

    def edit_post(self, editor: User, post_id: int, *, raw: str | None = None, title: str | None = None,
                  original_text: str | None = None, edit_reason: str | None = None) -> dict:
        """PUT /posts/{id}.json. Returns the serialized post (with raw)."""
        from .serialize import post_json

        with self.lock:
            post = self.post(post_id, with_deleted=editor.staff)
            topic = self.topics[post.topic_id]
            if original_text not in (None, "") and original_text != post.raw:
                raise ForumError(409, EDIT_CONFLICT)
            if raw is None:
                raise ForumError(400, ["param is missing or the value is empty: raw"], "invalid_parameters")
            title_changed = post.post_number == 1 and title is not None and title.strip() != topic.title
            raw_changed = raw != post.raw
            events: list[Event] = []
            if raw_changed or title_changed:
                self._validate(raw, title if title_changed else None, False)
                now = self.clock.now()
                new_version = not self._ninja_edit(post, editor, raw, now)
                change = {}
                if raw_changed:
                    change["raw"] = [post.raw, raw]
                if title_changed:
                    change["title"] = [topic.title, title.strip()]
                if new_version:
                    post.version += 1
                    post.last_version_at = now
                    post.edit_reason = edit_reason
                    post.revisions[post.version] = {**change, "user_id": editor.id, "created_at": now,
                                                    "edit_reason": edit_reason}
                elif post.version > 1:
                    rev = post.revisions[post.version]
                    for key, (_old, new) in change.items():
                        rev[key] = [rev.get(key, [_old])[0], new]
                post.raw = raw
                post.cooked = cook(raw)
                post.updated_at = now
                post.last_editor_id = editor.id
                if title_changed:
                    topic.title = title.strip()
                    topic.slug = slugify(topic.title)
                # config/initializers/012-web_hook_events.rb: editing the OP with a topic change sends
                # topic_edited INSTEAD of post_edited (its payload is the topic, without the body).
                if topic.deleted_at is not None:
                    pass  # no webhook for an edit in a trashed topic (012-web_hook_events.rb)
                elif title_changed:
                    events.append(Event("topic", "topic_edited", topic.id, topic.category_id))
                elif raw_changed:
                    events.append(Event("post", "post_edited", post.id, topic.category_id))
                if new_version and post.id == topic.post_ids[-1]:
                    topic.bumped_at = now
            result = post_json(self, post, add_raw=True)
        self._emit(events)
        return result

    def post_process(self, post_id: int) -> str:
        """Discourse's background rebake of a saved post (link attributes, previews): cooked changes,
        raw, version and updated_at do not. Returns the new cooked."""
        with self.lock:
            post = self.post(post_id, with_deleted=True)
            post.cooked = post_process(post.cooked)
            return post.cooked

    def delete_post(self, user: User, post_id: int) -> None:
        """DELETE /posts/{id}.json; deleting a first post deletes its topic (PostDestroyer)."""
        with self.lock:
            post = self.post(post_id)
            topic = self.topics[post.topic_id]
            if post.post_number == 1:
                self._delete_topic_locked(topic)
                events = [Event("post", "post_destroyed", post.id, topic.category_id),
                          Event("topic", "topic_destroyed", topic.id, topic.category_id)]
            else:
                post.deleted_at = self.clock.now()
                events = [Event("post", "post_destroyed", post.id, topic.category_id)]
        self._emit(events)

    def delete_topic(self, user: User, topic_id: int) -> None:
        with self.lock:
            topic = self.topic(topic_id)
            first = self.posts[topic.post_ids[0]]
            self._delete_topic_locked(topic)
            events = [Event("post", "post_destroyed", first.id, topic.category_id),
                      Event("topic", "topic_destroyed", topic.id, topic.category_id)]
        self._emit(events)

    def _delete_topic_locked(self, topic: Topic) -> None:
        now = self.clock.now()
        topic.deleted_at = now
        first = self.posts[topic.post_ids[0]]
        first.deleted_at = now

    def recover_post(self, user: User, post_id: int) -> dict:
        from .serialize import post_json

        with self.lock:
            post = self.post(post_id, with_deleted=True)
            topic = self.topics[post.topic_id]
            post.deleted_at = None
            events = [Event("post", "post_recovered", post.id, topic.category_id)]
            if post.post_number == 1 and topic.deleted_at is not None:
                topic.deleted_at = None
                events.append(Event("topic", "topic_recovered", topic.id, topic.category_id))
            result = post_json(self, post, add_raw=True)
        self._emit(events)
        return result

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            for listener in list(self.listeners):
                listener(event)

    def first_post(self, topic: Topic) -> Post:
        return self.posts[topic.post_ids[0]]

    def summary(self) -> dict:
        with self.lock:
            return {"categories": len(self.categories), "topics": len(self.category_topics(None)),
                    "posts": sum(1 for p in self.posts.values() if p.deleted_at is None),
                    "users": len(self.users)}


__all__ = ["Category", "EDIT_CONFLICT", "Event", "Forum", "ForumError", "Post", "Topic", "User", "excerpt",
           "not_found"]
