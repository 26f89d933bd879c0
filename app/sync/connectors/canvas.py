"""The Canvas connector: discussion topics and entries of the linked courses, both ways.

Inbound (`pull`, `parse_webhook`) and outbound (`apply`) shapes are the hub's contract
(CONTRACTS.md, "The hub's discussions"): a topic's id is its Canvas id, an entry's is
"<topic_id>:<entry_id>"; parents are the course (topics) and the topic (entries).

Canvas has no external id for topics or entries, so a topic or entry the hub creates
carries an empty marker element with the hub's reference (a class: what Canvas's sanitizer
keeps); a retried create looks for it first and never writes a second copy. The marker is stripped from what the hub sees.

Canvas has no optimistic locking either: before an edit the connector reads the
current message and raises ConflictError when it is no longer the one the hub last
synced (someone edited in Canvas meanwhile), like Discourse's 409.

Live Events arrive as JWTs signed by Instructure; they are verified against the
configured JWKS by `kid` and turned into the same Changes a pull would give.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import jwt

from app.services.canvas_api_service import BadResponse, CanvasAPIService, Forbidden, NotFound
from app.services.canvas_discussions import CanvasDiscussions
from app.sync.connectors.base import Applied, Change, Connector, WebhookRejected, registry
from app.sync.errors import ConflictError, PermanentError, TransientError

log = logging.getLogger(__name__)

TOPIC, POST, SNAPSHOT = "discussion_topic", "discussion_post", "snapshot_complete"
# The Change.data key of the Canvas instance (host) a Live Event came from.
LIVE_EVENT_INSTANCE = "canvas_instance"
# A class survives Canvas's sanitizer (CanvasSanitize allows class on every element; data-* is dropped).
MARKER_RE = re.compile(r"""<span\s+class=["']canvasflow-ref\s+(cf-[a-z_]+-\d+)["']\s*>\s*</span>""")
# Asymmetric algorithms only: a JWKS holds public keys, and "none"/HMAC must never verify.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
GLOBAL_ID_SHARD = 10 ** 13  # Canvas global ids: shard * 10^13 + local id
TOPIC_EVENTS = {"discussion_topic_created", "discussion_topic_updated"}
LIVE_EVENT_TEXT_LIMIT = 8192
MAX_REPLY_DEPTH, MAX_REPLIES = 8, 10_000  # a reply tree walk stops there
ENTRY_EVENTS = {"discussion_entry_created", "discussion_entry_updated", "discussion_entry_submitted"}


def marker(hub_ref: str) -> str:
    return f'<span class="canvasflow-ref {hub_ref}"></span>'


def split_marker(message: str | None) -> tuple[str, str | None]:
    """(message without the hub's marker, the hub reference it carried or None)."""
    message = message or ""
    found = MARKER_RE.search(message)
    return (MARKER_RE.sub("", message), found.group(1)) if found else (message, None)


def local_id(value: Any) -> str:
    """Canvas's local id from a local or a global (shard-prefixed) id."""
    text = str(value)
    return str(int(text) % GLOBAL_ID_SHARD) if text.isdigit() and int(text) >= GLOBAL_ID_SHARD else text


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def topic_version(title: str, message: str) -> str:
    """Topics carry no updated_at in the API: their version is a hash of what they say."""
    return hashlib.sha1(f"{title}\x00{message}".encode()).hexdigest()[:16]


class CanvasConnector(Connector):
    name = "canvas"

    def __init__(self, discussions: CanvasDiscussions | None, *, course_ids: Iterable[str | int] = (),
                 jwks: Mapping | str | None = None, since_overlap_s: float = 60.0,
                 event_max_age_s: float = 3600, event_leeway_s: float = 60, issuer: str = "",
                 audience: str = ""):
        self.discussions = discussions
        self.course_ids = [str(c) for c in course_ids]
        self.since_overlap = timedelta(seconds=since_overlap_s)
        self._keys = _load_jwks(jwks)
        # A Live Event is valid from iat (not in the future) until exp, and never longer than
        # event_max_age_s after iat: the hub keeps seen ids longer than that (app/sync/hub/store.py, purge_history).
        self.event_max_age_s, self.event_leeway_s = float(event_max_age_s), float(event_leeway_s)
        self.issuer, self.audience = issuer or None, audience or None
        self._topic_course: dict[str, str] = {}

    def close(self) -> None:
        if self.discussions is not None:
            self.discussions.close()

    def _api(self) -> CanvasDiscussions:
        if self.discussions is None:
            raise PermanentError("This Canvas connector has no Canvas account to call.")
        return self.discussions

    # -- inbound -------------------------------------------------------------------------

    def pull(self, since: datetime | None) -> Iterator[Change]:
        """Per linked course: every topic (they have no time filter), a snapshot_complete marker
        listing them (deletions), then the entries changed since."""
        api = self._api()
        cutoff = since - self.since_overlap if since is not None else None
        for course_id in self.course_ids:
            listed_at = datetime.now(timezone.utc)
            try:
                topics = api.topics(course_id)
            except (Forbidden, NotFound) as exc:  # the course closed for this account: keep the last copy
                log.info("event=hub_canvas_course_skipped course_id=%s error=%s", course_id, type(exc).__name__)
                continue
            for topic in topics:
                self._topic_course[str(topic["id"])] = course_id
                yield self._topic_change(topic, course_id)
            # The whole list was read: a topic missing from it was deleted in Canvas.
            yield Change(origin=self.name, entity_type=SNAPSHOT, external_id=course_id, updated_at=listed_at,
                         data={"entity_types": [TOPIC], "external_ids": [str(t["id"]) for t in topics]})
            for topic in topics:
                for entry in self._all_entries(course_id, topic["id"]):
                    updated = _time(entry.get("updated_at") or entry.get("created_at"))
                    if cutoff is None or updated is None or updated >= cutoff:
                        yield self._entry_change(entry, str(topic["id"]))

    def _all_entries(self, course_id: str, topic_id) -> Iterator[dict]:
        """Root entries and their replies at any depth, flattened (the hub's threads are flat)."""
        api = self._api()
        for entry in api.entries(course_id, topic_id):
            yield entry
            if not entry.get("has_more_replies"):
                yield from entry.get("recent_replies") or []
                continue
            # More than the 10 inlined: walk the reply tree (bounded: depth and count).
            level, seen = [entry], 0
            for _depth in range(MAX_REPLY_DEPTH):
                below = []
                for parent in level:
                    below.extend(api.replies(course_id, topic_id, parent["id"]))
                for reply in below:
                    yield reply
                seen += len(below)
                if not below or seen >= MAX_REPLIES:
                    break
                level = below

    def _topic_change(self, topic: dict, course_id: str) -> Change:
        body, hub_ref = split_marker(topic.get("message"))
        title = topic.get("title") or ""
        author = (topic.get("author") or {}).get("display_name") or topic.get("user_name")
        return Change(origin=self.name, entity_type=TOPIC, external_id=str(topic["id"]), parent_external_id=course_id,
                      updated_at=None,
                      data={"title": title, "body_html": body, "author_name": author,
                            "version": topic_version(title, body), "created_at": _time(topic.get("created_at")),
                            "hub_ref": hub_ref, "deleted": False})

    def _entry_change(self, entry: dict, topic_id: str) -> Change:
        body, hub_ref = split_marker(entry.get("message"))
        deleted = bool(entry.get("deleted"))
        return Change(origin=self.name, entity_type=POST, external_id=f"{topic_id}:{entry['id']}",
                      parent_external_id=topic_id, action=Change.DELETE if deleted else Change.UPSERT,
                      updated_at=_time(entry.get("updated_at")),
                      data={"body_html": body, "author_name": entry.get("user_name"),
                            "version": entry.get("updated_at"), "created_at": _time(entry.get("created_at")),
                            "hub_ref": hub_ref, "deleted": deleted})

    # -- outbound ------------------------------------------------------------------------

    def apply(self, change: Change) -> Applied:
        if change.entity_type not in (TOPIC, POST):
            raise PermanentError(f"Canvas cannot store a {change.entity_type!r}.")
        try:
            return self._apply_topic(change) if change.entity_type == TOPIC else self._apply_entry(change)
        except BadResponse as exc:
            # An unreadable answer to a write: it may have been made. A retry finds out (marker, conflict check).
            raise TransientError(str(exc)) from None

    def _apply_topic(self, change: Change) -> Applied:
        api = self._api()
        course_id = str(change.parent_external_id or "")
        if not course_id:
            raise PermanentError("A topic for Canvas needs the Canvas course id.")
        data = change.data
        hub_ref = data.get("hub_ref")
        title, body = data.get("title") or "", data.get("body_html") or ""
        topic_id = change.external_id or self._find_topic(course_id, hub_ref)
        if change.action == Change.DELETE:
            if topic_id:
                try:
                    api.delete_topic(course_id, topic_id)
                except NotFound:
                    pass  # already gone
            return Applied(external_id=str(topic_id or ""), data={"deleted": True})
        message = body + (marker(hub_ref) if hub_ref else "")
        if topic_id:
            if change.external_id and "previous_body" in data and data["previous_body"] is not None:
                current = api.topic(course_id, topic_id)
                current_body, _ = split_marker(current.get("message"))
                if current_body != data["previous_body"] or (
                        data.get("previous_title") is not None and current.get("title") != data["previous_title"]):
                    raise ConflictError("The Canvas topic changed since the hub last synced it.", current=current_body,
                                        context={"current_title": current.get("title")})
            result = api.update_topic(course_id, topic_id, title=title, message=message)
        else:
            result = api.create_topic(course_id, title, message)
        self._topic_course[str(result["id"])] = course_id
        held, _ = split_marker(result.get("message"))
        return Applied(external_id=str(result["id"]), version=None,
                       data={"body_html": held, "title": result.get("title"),
                             "version": topic_version(result.get("title") or "", held)})

    def _apply_entry(self, change: Change) -> Applied:
        api = self._api()
        topic_id = str(change.parent_external_id or "")
        if not topic_id:
            raise PermanentError("A reply for Canvas needs the Canvas topic id.")
        course_id = str(change.data.get("container_external_id") or self._course_of(topic_id))
        hub_ref = change.data.get("hub_ref")
        body = change.data.get("body_html") or ""
        entry_id = change.external_id.split(":", 1)[1] if change.external_id else self._find_entry(
            course_id, topic_id, hub_ref)
        if change.action == Change.DELETE:
            if entry_id:
                try:
                    api.delete_entry(course_id, topic_id, entry_id)
                except NotFound:
                    pass
            return Applied(external_id=f"{topic_id}:{entry_id}" if entry_id else "", data={"deleted": True})
        message = body + (marker(hub_ref) if hub_ref else "")
        if entry_id:
            previous = change.data.get("previous_body")
            if change.external_id and previous is not None:
                current = api.entry(course_id, topic_id, entry_id)
                if current is not None and not current.get("deleted"):
                    current_body, _ = split_marker(current.get("message"))
                    if current_body != previous:
                        raise ConflictError("The Canvas entry changed since the hub last synced it.",
                                            current=current_body)
            result = api.update_entry(course_id, topic_id, entry_id, message)
        else:
            result = api.create_entry(course_id, topic_id, message)
        held, _ = split_marker(result.get("message"))
        return Applied(external_id=f"{topic_id}:{result['id']}", version=None,
                       data={"body_html": held, "version": result.get("updated_at")})

    def _find_topic(self, course_id: str, hub_ref: str | None) -> str | None:
        """The topic an earlier attempt created for this hub reference, if it got that far."""
        if not hub_ref:
            return None
        for topic in self._api().topics(course_id):
            if split_marker(topic.get("message"))[1] == hub_ref:
                return str(topic["id"])
        return None

    def _find_entry(self, course_id: str, topic_id: str, hub_ref: str | None) -> str | None:
        if not hub_ref:
            return None
        for entry in self._api().entries(course_id, topic_id):
            if split_marker(entry.get("message"))[1] == hub_ref:
                return str(entry["id"])
        return None

    def _course_of(self, topic_id: str) -> str:
        if topic_id in self._topic_course:
            return self._topic_course[topic_id]
        for course_id in self.course_ids:
            try:
                self._api().topic(course_id, topic_id)
            except NotFound:
                continue
            self._topic_course[topic_id] = course_id
            return course_id
        raise PermanentError(f"Canvas topic {topic_id} is in none of the linked courses.")

    # -- push ----------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> list[Change]:
        """A Live Event JWT -> Changes; WebhookRejected(401) unless it verifies against a configured key."""
        token = body.decode("ascii", "replace").strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise WebhookRejected("The Canvas event is not a signed JWT.") from None
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise WebhookRejected("The Canvas event was signed with a key we do not know (kid).")
        algorithm = key.algorithm_name  # the key's own algorithm, never the token's say-so
        if algorithm not in ALLOWED_ALGORITHMS or header.get("alg") != algorithm:
            raise WebhookRejected("The Canvas event uses a signing algorithm we do not accept.")
        try:
            claims = jwt.decode(token, key.key, algorithms=[algorithm], leeway=self.event_leeway_s,
                                issuer=self.issuer, audience=self.audience,
                                options={"require": ["exp", "iat"], "verify_aud": self.audience is not None,
                                         "verify_iss": self.issuer is not None})
        except jwt.InvalidTokenError as exc:
            raise WebhookRejected(f"The Canvas event does not verify ({type(exc).__name__}).") from None
        if time.time() - float(claims["iat"]) > self.event_max_age_s + self.event_leeway_s:
            raise WebhookRejected("The Canvas event was issued too long ago.")
        event_id = str(claims.get("jti") or hashlib.sha256(token.encode()).hexdigest())
        events = claims.get("data") if isinstance(claims.get("data"), list) else [claims]
        changes = []
        try:
            for index, event in enumerate(events):
                change = self._event_change(event, event_id if len(events) == 1 else f"{event_id}:{index}")
                if change is not None:
                    # Course and topic ids are only unique within one Canvas: the hub applies the
                    # event only to a course of the instance the signed claims name (None: unknown).
                    instance = (event.get("metadata") or {}).get("hostname") or claims.get("hostname")
                    change.data[LIVE_EVENT_INSTANCE] = str(instance).lower() if instance else None
                    changes.append(change)
        except (KeyError, TypeError, ValueError, AttributeError):
            # Signed by Canvas but not the shape of a Live Event: the sender's mistake, not ours.
            raise WebhookRejected("The Canvas event is signed but malformed.", status=400) from None
        return changes

    def _event_change(self, event: Mapping, event_id: str) -> Change | None:
        metadata, body = event.get("metadata") or {}, event.get("body") or {}
        name = metadata.get("event_name")
        if any(len(str(body.get(key) or "")) >= LIVE_EVENT_TEXT_LIMIT for key in ("body", "text", "title")):
            return None  # Live Events cut text at 8192 characters: the next poll brings the whole of it
        if name in TOPIC_EVENTS:
            if (body.get("context_type") or metadata.get("context_type")) not in (None, "Course"):
                return None
            text, hub_ref = split_marker(body.get("body"))
            deleted = body.get("workflow_state") == "deleted"
            title = body.get("title") or ""
            return Change(origin=self.name, entity_type=TOPIC, external_id=local_id(body["discussion_topic_id"]),
                          parent_external_id=local_id(body.get("context_id") or metadata.get("context_id")),
                          action=Change.DELETE if deleted else Change.UPSERT, updated_at=_time(body.get("updated_at")),
                          event_id=event_id,
                          data={"title": title, "body_html": text, "author_name": None,
                                "version": topic_version(title, text), "created_at": None, "hub_ref": hub_ref,
                                "deleted": deleted})
        if name in ENTRY_EVENTS:
            text, hub_ref = split_marker(body.get("text"))
            topic_id = local_id(body["discussion_topic_id"])
            return Change(origin=self.name, entity_type=POST,
                          external_id=f"{topic_id}:{local_id(body['discussion_entry_id'])}",
                          parent_external_id=topic_id,
                          updated_at=_time(body.get("updated_at") or body.get("created_at")),
                          event_id=event_id,
                          data={"body_html": text, "author_name": None, "version": body.get("updated_at"),
                                "created_at": _time(body.get("created_at")), "hub_ref": hub_ref, "deleted": False})
        return None


def canvas_instance(base_url: str | None) -> str:
    """The hub's key for the Canvas at base_url: its host (and port unless the scheme's default),
    lower case. Course and topic ids are unique only within one Canvas, so the hub keys them by this."""
    if not base_url:
        return ""
    parts = urlsplit(base_url if "//" in base_url else f"//{base_url}")
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or (parts.scheme, port) in {("http", 80), ("https", 443)}:
        return host
    return f"{host}:{port}"


def same_canvas_instance(instance: str | None, base_url: str | None) -> bool:
    """Whether a Live Event's instance (a host, maybe with a port) is the Canvas at base_url."""
    if not instance or not base_url:
        return False
    parts = urlsplit(base_url)
    return instance.lower() in {(parts.netloc or "").lower(), (parts.hostname or "").lower()}


def _load_jwks(jwks: Mapping | str | None) -> dict[str, jwt.PyJWK]:
    if not jwks:
        return {}
    data = json.loads(jwks) if isinstance(jwks, str) else dict(jwks)
    keys = {}
    for entry in data.get("keys", []):
        key = jwt.PyJWK.from_dict(entry)
        if key.key_id:
            keys[str(key.key_id)] = key
    return keys


def create_canvas_connector(credentials: Mapping | None, http_session=None,
                            settings: Mapping | None = None) -> CanvasConnector:
    """The registry's factory: credentials {"base_url", "token"} (None: webhooks only), settings
    {"course_ids": [...], "CANVAS_LIVE_EVENTS_JWKS": ..., "CANVAS_TIMEOUT_S", "CANVAS_MAX_RETRIES"}.

    CanvasAPIService builds its own pooled session (app/services/http.py), so `http_session` is unused.
    """
    settings = settings or {}
    discussions = None
    if credentials:
        api = CanvasAPIService(credentials["base_url"], credentials["token"],
                               timeout=float(settings.get("CANVAS_TIMEOUT_S", 30.0)),
                               max_retries=int(settings.get("CANVAS_MAX_RETRIES", 5)),
                               backoff_factor=float(settings.get("CANVAS_BACKOFF_FACTOR", 0.5)),
                               token_source=credentials.get("token_source"))
        discussions = CanvasDiscussions(api)
    return CanvasConnector(discussions, course_ids=settings.get("course_ids", ()),
                           jwks=settings.get("CANVAS_LIVE_EVENTS_JWKS"),
                           since_overlap_s=float(settings.get("HUB_PULL_OVERLAP_S", 60.0)),
                           event_max_age_s=float(settings.get("CANVAS_LIVE_EVENTS_MAX_AGE_S", 3600)),
                           event_leeway_s=float(settings.get("CANVAS_LIVE_EVENTS_LEEWAY_S", 60)),
                           issuer=settings.get("CANVAS_LIVE_EVENTS_ISSUER") or "",
                           audience=settings.get("CANVAS_LIVE_EVENTS_AUDIENCE") or "")


registry.register(CanvasConnector.name, create_canvas_connector)
