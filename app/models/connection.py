"""A user's connection to a read-only source (Google Classroom, Schoology): credentials and pull status.

Credentials are one JSON object encrypted like the Canvas token (app/crypto.py); pages
show only `credentials_hint`, the secret's last four characters. The status and last
error are written for people ("Schoology refused the OAuth signature ..."), never with
a secret in them.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto import decrypt_token, encrypt_token
from app.extensions import db
from app.models.types import LongText, UTCDateTime, utcnow


class UserConnection(db.Model):
    __tablename__ = "user_connection"
    __table_args__ = (UniqueConstraint("user_id", "system"),)

    NEW, OK, FAILED, RETRYING = "new", "ok", "failed", "retrying"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))  # "classroom" | "schoology"
    base_url: Mapped[str | None] = mapped_column(String(500))
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    credentials_hint: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=NEW)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last attempt's start
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_full_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_counts_json: Mapped[str | None] = mapped_column(Text)
    # What the connector needs to continue incrementally (e.g. its `since`), as JSON.
    state_json: Mapped[str | None] = mapped_column(LongText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def credentials(self) -> dict:
        return json.loads(decrypt_token(self.credentials_encrypted)) if self.credentials_encrypted else {}

    def set_credentials(self, values: dict, *, hint_from: str) -> None:
        """Encrypt `values`; `hint_from` names the secret whose last four characters pages may show."""
        self.credentials_encrypted = encrypt_token(json.dumps(values, sort_keys=True))
        self.credentials_hint = (values.get(hint_from) or "")[-4:] or None

    @property
    def state(self) -> dict:
        return json.loads(self.state_json) if self.state_json else {}

    @state.setter
    def state(self, value: dict | None) -> None:
        self.state_json = json.dumps(value, sort_keys=True, default=str) if value else None

    @property
    def last_counts(self) -> dict:
        return json.loads(self.last_counts_json) if self.last_counts_json else {}

    @property
    def connected(self) -> bool:
        return bool(self.credentials_encrypted)

    def __repr__(self) -> str:  # never the credentials
        return f"<UserConnection {self.id} user={self.user_id} {self.system}>"
