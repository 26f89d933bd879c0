"""Issuing, finding, regenerating and turning off a user's feed secret (app.models.CalendarFeed).

The secret is 32 random bytes (256 bits), URL-safe: guessing one is hopeless, so the
feed needs no rate limit. It is found by its SHA-256 hash, never compared as text.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets as random_secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.crypto import TokenDecryptError, decrypt_token, encrypt_token
from app.extensions import db
from app.models import CalendarFeed, User
from app.models.types import utcnow

log = logging.getLogger(__name__)
SECRET_BYTES = 32
MAX_SECRET_LENGTH = 128  # anything longer is not ours: refused before hashing


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(feed: CalendarFeed) -> None:
    secret = random_secrets.token_urlsafe(SECRET_BYTES)
    feed.secret_hash = hash_secret(secret)
    feed.secret_encrypted = encrypt_token(secret)
    feed.created_at = utcnow()
    feed.revoked_at = None
    feed.content_hash = None
    feed.content_changed_at = None


def feed_of(user: User) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))


def ensure_feed(user: User) -> CalendarFeed:
    """The user's feed, made on first need (Settings shows it); a turned-off feed stays off."""
    feed = feed_of(user)
    if feed is not None:
        return feed
    feed = CalendarFeed(user_id=user.id)
    _new_secret(feed)
    db.session.add(feed)
    try:
        db.session.commit()
    except IntegrityError:  # another request made it first (user_id is unique)
        db.session.rollback()
        return feed_of(user)
    log.info("event=calendar_feed_created user_id=%s", user.id)
    return feed


def regenerate(user: User) -> CalendarFeed:
    """A new secret in place of the old one, which stops working at once."""
    feed = feed_of(user)
    if feed is None:
        return ensure_feed(user)
    _new_secret(feed)
    db.session.commit()
    log.info("event=calendar_feed_regenerated user_id=%s", user.id)
    return feed


def turn_off(user: User) -> None:
    feed = feed_of(user)
    if feed is not None and feed.revoked_at is None:
        feed.revoked_at = utcnow()
        db.session.commit()
        log.info("event=calendar_feed_revoked user_id=%s", user.id)


def find_active(secret: str) -> CalendarFeed | None:
    """The live feed whose secret this is, or None (unknown and revoked look the same)."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    digest = hash_secret(secret)
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.secret_hash == digest))
    if feed is None or not hmac.compare_digest(feed.secret_hash, digest) or feed.revoked_at is not None:
        return None
    return feed


def secret_of(feed: CalendarFeed) -> str | None:
    """The secret to show in Settings, or None when the encryption key changed since."""
    try:
        return decrypt_token(feed.secret_encrypted)
    except TokenDecryptError:
        return None
