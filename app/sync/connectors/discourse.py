"""DiscourseConnector: the hub's discussions (contract: "The hub's discussions") in Discourse.

Inbound: a topic in a watched category is ONE "discussion_topic" Change whose body is its
first post; every other post is a "discussion_post". Outbound: topics are created with
`external_id = hub_ref` and looked up by it first, so a retry finds the topic instead of
creating a second; replies carry the hub_ref in an HTML comment at the end of their raw
(Discourse drops comments from cooked HTML), found the same way. Edits send
`original_text`, and a 409 becomes ConflictError with what Discourse now holds.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta

from app.services.discourse_api_service import DiscourseAPIError, DiscourseAPIService, EditConflict, NotFound, Rejected
from app.sync.connectors.base import Applied, Change, Connector, WebhookRejected, registry
from app.sync.errors import ConflictError, PermanentError, TransientError

log = logging.getLogger(__name__)

TOPIC = "discussion_topic"
POST = "discussion_post"
REGULAR_POST = 1  # post_type: 1 regular, 2 moderator action, 3 small action, 4 whisper
MARKER = re.compile(r"\n*<!-- canvas-flow:(?P<ref>[A-Za-z0-9_:.-]{1,80}) -->\s*$")
MAX_TOPICS_PER_CATEGORY = 10_000
# Discourse times have millisecond precision and clocks differ a little: re-read a second
# before `since` (the hub drops what it already has by version).
PULL_OVERLAP = timedelta(seconds=1)


def compose_raw(body_html: str | None, hub_ref: str | None) -> str:
    """The raw we send: the (sanitized) HTML body, then our hub_ref as an invisible comment."""
    body = (body_html or "").strip()
    return f"{body}\n\n<!-- canvas-flow:{hub_ref} -->" if hub_ref else body


def hub_ref_in(raw: str | None) -> str | None:
    m = MARKER.search(raw or "")
    return m["ref"] if m else None


def strip_marker(raw: str | None) -> str:
    return MARKER.sub("", raw or "").strip()


def _norm(html: str | None) -> str:
    """Whitespace-insensitive form, to tell 'same content' from 'edited by someone'."""
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", (html or "").strip()))


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class DiscourseConnector(Connector):
    name = "discourse"

    def __init__(self, client: DiscourseAPIService, webhook_secret: str | None, category_ids: Iterable[int] = (),
                 *, settings: dict | None = None):
        self.client = client
        self.webhook_secret = webhook_secret or None
        self.category_ids = [int(c) for c in category_ids]
        self.settings = dict(settings or {})

    @classmethod
    def from_settings(cls, settings: dict, session=None) -> "DiscourseConnector":
        """Build from plain settings: base_url, api_key, api_username, webhook_secret, category_ids."""
        client = DiscourseAPIService(settings["base_url"], settings["api_key"],
                                     settings.get("api_username") or "system", session=session,
                                     timeout=float(settings.get("timeout_s", 30.0)),
                                     backoff_factor=float(settings.get("backoff_factor", 0.5)))
        return cls(client, settings.get("webhook_secret"), settings.get("category_ids") or (), settings=settings)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ pull
    def pull(self, since: datetime | None) -> Iterator[Change]:
        """Every topic of the watched categories, then its posts; only what changed at or after `since`.

        Discourse has no "edited since" filter and an edit of an older post does not bump its
        topic, so every topic is read (one request per topic, plus one per 20 extra posts).
        """
        cutoff = since - PULL_OVERLAP if since is not None else None
        for category_id in self.category_ids:
            for n, item in enumerate(self._iter(self.client.iter_category_topics, category_id)):
                if n >= MAX_TOPICS_PER_CATEGORY:
                    log.warning("event=discourse_pull_capped category=%s", category_id)
                    break
                try:
                    topic, posts = self._call(self.client.all_topic_posts, int(item["id"]), True)
                except PermanentError:
                    continue  # deleted between the list and the read
                for change in self._topic_changes(topic, posts):
                    if cutoff is None or change.updated_at is None or change.updated_at >= cutoff:
                        yield change

    def _topic_changes(self, topic: dict, posts: list[dict]) -> Iterator[Change]:
        first = next((p for p in posts if p.get("post_number") == 1), None)
        if first is not None:
            yield self._topic_change(first, topic.get("title"), topic.get("category_id"), topic.get("external_id"),
                                     deleted=bool(topic.get("deleted_at")))
        for post in posts:
            if post.get("post_number") != 1 and post.get("post_type", REGULAR_POST) == REGULAR_POST:
                yield self._post_change(post)

    def _topic_change(self, first: dict, title, category_id, external_id, *, deleted=False, event_id=None,
                      action=Change.UPSERT) -> Change:
        data = self._common(first, deleted or action == Change.DELETE)
        data["title"] = title
        data["hub_ref"] = external_id or data["hub_ref"]
        return Change(self.name, TOPIC, str(first["topic_id"]), action, data,
                      str(category_id) if category_id is not None else None, _time(first.get("updated_at")), event_id)

    def _post_change(self, post: dict, *, event_id=None, action=Change.UPSERT) -> Change:
        data = self._common(post, bool(post.get("deleted_at")) or action == Change.DELETE)
        data["reply_to_post_number"] = post.get("reply_to_post_number")
        return Change(self.name, POST, str(post["id"]), action, data, str(post["topic_id"]),
                      _time(post.get("updated_at")), event_id)

    @staticmethod
    def _common(post: dict, deleted: bool) -> dict:
        raw = post.get("raw")
        return {
            "body_html": post.get("cooked") or "",
            "author_name": post.get("name") or post.get("username"),
            "author_username": post.get("username"),
            "version": post.get("version"),
            "created_at": _time(post.get("created_at")),
            "hub_ref": hub_ref_in(raw),
            "deleted": deleted,
            "raw": raw,
            "post_id": post.get("id"),
            "post_number": post.get("post_number"),
        }

    def fetch_topic(self, topic_id: int | str) -> Change | None:
        """The whole "discussion_topic" Change for one topic now (None if it is gone), e.g. to
        complete a partial topic_edited push."""
        try:
            topic, posts = self._call(self.client.all_topic_posts, int(topic_id), True)
        except PermanentError:
            return None
        first = next((p for p in posts if p.get("post_number") == 1), None)
        if first is None:
            return None
        return self._topic_change(first, topic.get("title"), topic.get("category_id"), topic.get("external_id"),
                                  deleted=bool(topic.get("deleted_at")))

    # ------------------------------------------------------------------ apply
    def apply(self, change: Change) -> Applied:
        if change.entity_type not in (TOPIC, POST):
            raise PermanentError(f"Discourse does not take {change.entity_type} changes.")
        if change.action == Change.DELETE:
            return self._delete(change)
        if change.external_id:
            return self._edit(change)
        return self._create_topic(change) if change.entity_type == TOPIC else self._create_post(change)

    def _create_topic(self, change: Change) -> Applied:
        data = change.data
        hub_ref = data.get("hub_ref")
        if not change.parent_external_id:
            raise PermanentError("This course is not linked to a Discourse category yet.")
        if hub_ref:
            existing = self._call(self.client.topic_by_external_id, hub_ref)
            if existing is not None:
                return self._adopt_topic(existing, change)
        raw = compose_raw(data.get("body_html"), hub_ref)
        try:
            post = self.client.create_topic(int(change.parent_external_id), data.get("title") or "Untitled", raw,
                                            external_id=hub_ref)
        except Rejected as exc:
            # Two deliveries raced: the other one created it first.
            if hub_ref and any("External" in e for e in exc.errors):
                existing = self._call(self.client.topic_by_external_id, hub_ref)
                if existing is not None:
                    return self._adopt_topic(existing, change)
                raise PermanentError(f"Discourse already had a topic for {hub_ref} and it was deleted there; "
                                     "it is not created again.") from None
            raise PermanentError(exc.message) from None
        except DiscourseAPIError as exc:
            raise self._translate(exc) from None
        return Applied(str(post["topic_id"]), post.get("version"),
                       {"body_html": post.get("cooked"), "raw": post.get("raw", raw), "post_id": post.get("id")})

    def _adopt_topic(self, topic: dict, change: Change) -> Applied:
        """A topic an earlier attempt created: bring it up to date if needed, never create a second."""
        posts = (topic.get("post_stream") or {}).get("posts") or []
        first = next((p for p in posts if p.get("post_number") == 1), None)
        if first is None:
            raise TransientError("Discourse sent a topic without its first post; will retry.")
        first = self._call(self.client.post, int(first["id"]))
        return self._write(change, first, title_now=topic.get("title"))

    def _create_post(self, change: Change) -> Applied:
        data = change.data
        hub_ref = data.get("hub_ref")
        if not change.parent_external_id:
            raise PermanentError("The reply's topic has not reached Discourse yet.")
        topic_id = int(change.parent_external_id)
        if hub_ref:
            _topic, posts = self._call(self.client.all_topic_posts, topic_id, True)
            mine = next((p for p in posts if hub_ref_in(p.get("raw")) == hub_ref), None)
            if mine is not None:
                return self._write(change, mine)
        raw = compose_raw(data.get("body_html"), hub_ref)
        post = self._call(self.client.create_post, topic_id, raw)
        return Applied(str(post["id"]), post.get("version"),
                       {"body_html": post.get("cooked"), "raw": post.get("raw", raw), "post_id": post.get("id")})

    def _edit(self, change: Change) -> Applied:
        if change.entity_type == TOPIC:
            topic = self._call(self.client.topic, int(change.external_id))
            posts = (topic.get("post_stream") or {}).get("posts") or []
            first = next((p for p in posts if p.get("post_number") == 1), None)
            if first is None:
                raise TransientError("Discourse sent a topic without its first post; will retry.")
            title_now, previous_title = topic.get("title"), change.data.get("previous_title")
            if previous_title is not None and title_now not in (previous_title, change.data.get("title")):
                # Discourse has no conflict check on titles (original_text guards the raw only).
                raise ConflictError("The Discourse topic was retitled there since we last synced it.",
                                    current=first.get("cooked"),
                                    context={"post_id": first.get("id"), "current_title": title_now})
            return self._put(change, int(first["id"]), title_now=title_now)
        return self._put(change, int(change.external_id))

    def _put(self, change: Change, post_id: int, title_now: str | None = None) -> Applied:
        data = change.data
        hub_ref = data.get("hub_ref")
        new_raw = compose_raw(data.get("body_html"), hub_ref)
        previous = data.get("previous_body")
        original = compose_raw(previous, hub_ref) if previous is not None else None
        title = self._title_change(change, title_now)
        try:
            post = self.client.update_post(post_id, new_raw, original_text=original, title=title)
        except EditConflict as exc:
            return self._after_conflict(change, exc.current, title_now)
        except DiscourseAPIError as exc:
            raise self._translate(exc) from None
        return self._applied(change, post)

    def _after_conflict(self, change: Change, current: dict | None, title_now: str | None) -> Applied:
        """409: the raw differs from ours. Same content in another form (or our own edit already
        applied) is not a conflict; anything else is, with what Discourse holds now."""
        if current is None:
            raise ConflictError("The Discourse post changed since we last synced it.")
        return self._write(change, current, title_now=title_now, conflict_if_changed=True)

    def _write(self, change: Change, current: dict, *, title_now: str | None = None,
               conflict_if_changed: bool = False) -> Applied:
        """Make `current` (a post with raw) hold the change's body, guarded by its own raw."""
        data = change.data
        hub_ref = data.get("hub_ref")
        new_raw = compose_raw(data.get("body_html"), hub_ref)
        title = self._title_change(change, title_now)
        if current.get("raw") == new_raw and title is None:
            return self._applied(change, current)  # already there (an earlier attempt got through)
        previous = data.get("previous_body")
        context = {"post_id": current.get("id"), "version": current.get("version")}
        if change.entity_type == TOPIC and title_now is not None:
            context["current_title"] = title_now  # the hub resolves title and body together
        if conflict_if_changed and not self._unchanged_since(previous, current):
            raise ConflictError("The Discourse post was edited there since we last synced it.",
                                current=current.get("cooked"), context=context)
        try:
            post = self.client.update_post(int(current["id"]), new_raw, original_text=current.get("raw"),
                                           title=title)
        except EditConflict as exc:
            fresh = exc.current or {}
            raise ConflictError("The Discourse post was edited there while we synced it.",
                                current=fresh.get("cooked"), context=context) from None
        except DiscourseAPIError as exc:
            raise self._translate(exc) from None
        return self._applied(change, post)

    @staticmethod
    def _unchanged_since(previous: str | None, current: dict) -> bool:
        if previous is None:
            return False
        wanted = _norm(previous)
        return wanted in (_norm(strip_marker(current.get("raw"))), _norm(current.get("cooked")))

    @staticmethod
    def _title_change(change: Change, title_now: str | None) -> str | None:
        title = change.data.get("title") if change.entity_type == TOPIC else None
        return title if title and title != title_now else None

    def _applied(self, change: Change, post: dict) -> Applied:
        target = str(post["topic_id"]) if change.entity_type == TOPIC else str(post["id"])
        return Applied(target, post.get("version"),
                       {"body_html": post.get("cooked"), "raw": post.get("raw"), "post_id": post.get("id")})

    def _delete(self, change: Change) -> Applied:
        if not change.external_id:
            return Applied("", None, {"deleted": True})  # never reached Discourse: nothing to delete
        try:
            if change.entity_type == TOPIC:
                self.client.delete_topic(int(change.external_id))
            else:
                self.client.delete_post(int(change.external_id))
        except NotFound:
            pass  # already gone: deleting twice is fine
        except DiscourseAPIError as exc:
            raise self._translate(exc) from None
        return Applied(change.external_id, None, {"deleted": True})

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except DiscourseAPIError as exc:
            raise self._translate(exc) from None

    def _iter(self, fn, *args) -> Iterator:
        """Iterate a paging call, translating errors raised between pages too."""
        iterator = iter(fn(*args))
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except DiscourseAPIError as exc:
                raise self._translate(exc) from None
            yield item

    @staticmethod
    def _translate(exc: DiscourseAPIError) -> Exception:
        if isinstance(exc, EditConflict):
            return ConflictError(exc.message, current=(exc.current or {}).get("cooked"))
        context = {"status": exc.status} if exc.status else None
        return PermanentError(exc.message, context=context) if not exc.retriable else TransientError(exc.message,
                                                                                                  context=context)

    # ------------------------------------------------------------------ webhooks
    def parse_webhook(self, headers: dict[str, str], body: bytes) -> list[Change]:
        h = {k.lower(): v for k, v in headers.items()}
        self._verify(h.get("x-discourse-event-signature"), body)
        event_type = h.get("x-discourse-event-type", "")
        event = h.get("x-discourse-event", "")
        event_id = h.get("x-discourse-event-id") or None
        if event_type == "ping":
            return []
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookRejected("The Discourse webhook body is not JSON.", status=400) from None
        if not isinstance(payload, dict):
            raise WebhookRejected("The Discourse webhook body is not a JSON object.", status=400)
        try:
            if event_type == "post" and isinstance(payload.get("post"), dict):
                return self._post_event(event, payload["post"], event_id)
            if event_type == "topic" and isinstance(payload.get("topic"), dict):
                return self._topic_event(event, payload["topic"], event_id)
        except (KeyError, TypeError, ValueError, AttributeError):
            # Signed by our secret but not the shape of a Discourse post or topic.
            raise WebhookRejected("The Discourse webhook is signed but malformed.", status=400) from None
        return []  # users, likes, ...: nothing the hub syncs

    def confirm_deleted(self, change: Change) -> bool:
        """True when Discourse no longer shows the post or topic (or shows it deleted)."""
        try:
            if change.entity_type == TOPIC:
                found = self.client.topic(int(change.external_id))
            else:
                found = self.client.post(int(change.external_id))
        except NotFound:
            return True
        except (DiscourseAPIError, ValueError) as exc:
            log.warning("event=discourse_delete_unconfirmed entity_type=%s external_id=%s error=%s",
                        change.entity_type, change.external_id, type(exc).__name__)
            return False  # left to polling: a deletion is never taken on an unsigned word
        return bool(found.get("deleted_at"))

    def _verify(self, signature: str | None, body: bytes) -> None:
        if not self.webhook_secret:
            raise WebhookRejected("Discourse webhooks are not set up (no DISCOURSE_WEBHOOK_SECRET).", status=401)
        if not signature:
            raise WebhookRejected("The Discourse webhook has no signature.", status=401)
        expected = "sha256=" + hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise WebhookRejected("The Discourse webhook signature does not match.", status=401)

    def _watched(self, category_id) -> bool:
        return category_id is not None and int(category_id) in self.category_ids

    def _post_event(self, event: str, post: dict, event_id: str | None) -> list[Change]:
        if not self._watched(post.get("category_id")) or post.get("post_type", REGULAR_POST) != REGULAR_POST:
            return []
        # The signature covers the body only, never the X-Discourse-Event header: the action is
        # what the signed post says (a destroyed post carries deleted_at), and confirm_deleted
        # asks Discourse before the hub deletes anything.
        action = Change.DELETE if post.get("deleted_at") else Change.UPSERT
        if post.get("post_number") == 1:
            return [self._topic_change(post, post.get("topic_title"), post.get("category_id"), None,
                                       event_id=event_id, action=action)]
        return [self._post_change(post, event_id=event_id, action=action)]

    def _topic_event(self, event: str, topic: dict, event_id: str | None) -> list[Change]:
        if not self._watched(topic.get("category_id")):
            return []
        if topic.get("deleted_at"):  # the signed payload says so, whatever the header claims
            data = {"title": topic.get("title"), "hub_ref": topic.get("external_id"), "deleted": True}
            return [Change(self.name, TOPIC, str(topic["id"]), Change.DELETE, data, str(topic["category_id"]),
                           _time(topic.get("deleted_at")), event_id)]
        if event == "topic_edited":
            # Discourse sends topic_edited INSTEAD of post_edited when the first post's edit also
            # changed the title: the body may have changed too, but the topic payload lacks it.
            # So this Change is partial; `fetch_topic(topic_id)` gives the whole topic.
            data = {"title": topic.get("title"), "hub_ref": topic.get("external_id"), "partial": True,
                    "fields": ["title"], "deleted": False}
            return [Change(self.name, TOPIC, str(topic["id"]), Change.UPSERT, data, str(topic["category_id"]),
                           _time(topic.get("bumped_at")), event_id)]
        return []  # topic_created / topic_recovered: the first post's post_* event carries the whole topic


def create_discourse_connector(credentials: Mapping | None = None, http_session=None,
                               settings: Mapping | None = None) -> DiscourseConnector:
    """The registry's factory, as the hub calls it: (credentials, http session, settings).

    Discourse acts through one admin API key for the whole deployment, so `credentials` is
    None; settings are the app config (DISCOURSE_URL, DISCOURSE_API_KEY, DISCOURSE_API_USERNAME,
    DISCOURSE_WEBHOOK_SECRET, DISCOURSE_TIMEOUT_S, DISCOURSE_BACKOFF_FACTOR) plus `course_ids`:
    the Discourse category ids linked to courses (the categories this connector watches).
    """
    settings = dict(settings or {})
    credentials = dict(credentials or {})
    base_url = credentials.get("base_url") or settings.get("DISCOURSE_URL")
    api_key = credentials.get("api_key") or settings.get("DISCOURSE_API_KEY")
    if not base_url or not api_key:
        raise PermanentError("Discourse is not set up: set DISCOURSE_URL and DISCOURSE_API_KEY.")
    return DiscourseConnector.from_settings({
        "base_url": base_url, "api_key": api_key,
        "api_username": credentials.get("api_username") or settings.get("DISCOURSE_API_USERNAME") or "system",
        "webhook_secret": settings.get("DISCOURSE_WEBHOOK_SECRET"),
        "category_ids": [c for c in settings.get("course_ids") or () if str(c).isdigit()],
        "timeout_s": settings.get("DISCOURSE_TIMEOUT_S", 30.0),
        "backoff_factor": settings.get("DISCOURSE_BACKOFF_FACTOR", 0.5),
    }, session=http_session)


registry.register(DiscourseConnector.name, create_discourse_connector)
