"""Who a person is at an OAuth provider, and the tokens Canvas Flow holds for them.

A Canvas sign-in names the person by the Canvas instance (its base URL) and their Canvas
user id, so two instances never share an account by accident; one local account has at
most one identity per provider. Tokens are encrypted like the pasted Canvas token
(app/crypto.py) and never shown.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto import decrypt_token, encrypt_token
from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class OAuthIdentity(db.Model):
    __tablename__ = "oauth_identity"
    __table_args__ = (UniqueConstraint("provider", "issuer", "subject"), UniqueConstraint("user_id", "provider"))

    CANVAS, GOOGLE = "canvas", "google"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    # The Canvas base URL (or Google's issuer) the subject id belongs to.
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the provider refused the refresh token: the person must connect again.
    needs_reconnect: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def access_token(self) -> str | None:
        return decrypt_token(self.access_token_encrypted) if self.access_token_encrypted else None

    @access_token.setter
    def access_token(self, token: str | None) -> None:
        self.access_token_encrypted = encrypt_token(token) if token else None

    @property
    def refresh_token(self) -> str | None:
        return decrypt_token(self.refresh_token_encrypted) if self.refresh_token_encrypted else None

    @refresh_token.setter
    def refresh_token(self, token: str | None) -> None:
        self.refresh_token_encrypted = encrypt_token(token) if token else None

    def __repr__(self) -> str:  # never include a token
        return f"<OAuthIdentity {self.provider} {self.issuer} {self.subject} user={self.user_id}>"
