"""A user's private calendar feed: the secret in its URL, and what the feed last looked like.

The secret is kept twice: a SHA-256 hash, which the public feed URL is looked up by (an
index lookup on a hash reveals nothing about the secret through timing), and a Fernet
ciphertext (app/crypto.py), so Settings can show the same address on every visit, as
calendar services do. One row per user; regenerating replaces the secret in place.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class CalendarFeed(db.Model):
    __tablename__ = "calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the user turns the feed off; the URL then answers 404 until a new one is made.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The feed body's SHA-256 at the last request and when it last changed: the ETag and the
    # Last-Modified header, so a deletion (which leaves no newer timestamp behind) still counts.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    content_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:  # never include the secret
        return f"<CalendarFeed user={self.user_id} active={self.active}>"
