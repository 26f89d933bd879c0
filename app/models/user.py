from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, Integer, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from app.crypto import decrypt_token, encrypt_token
from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    canvas_base_url: Mapped[str | None] = mapped_column(String(500))
    canvas_token_encrypted: Mapped[str | None] = mapped_column(Text)
    # Last 4 characters, kept apart so pages can say "ends in ...abcd" without decrypting.
    canvas_token_hint: Mapped[str | None] = mapped_column(String(8))
    # The user's own id in Canvas (users/self): tells their submissions from their students'.
    canvas_user_id: Mapped[int | None] = mapped_column(BigInteger)
    last_synced_canvas: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # IANA zone every page shows dates in: Canvas's profile time_zone until the user picks one
    # in Settings (time_zone_chosen), after which a sync leaves it alone. None: the server's default.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    time_zone_chosen: Mapped[bool] = mapped_column(Boolean, server_default=false())
    clock_24h: Mapped[bool] = mapped_column(Boolean, server_default=true())
    # Minutes before a deadline the calendar feed's reminder fires; None: no reminder.
    feed_alarm_minutes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every session and remember-me cookie (get_id): logging out or changing the
    # password bumps it, so every cookie issued before stops working on every device.
    session_version: Mapped[int] = mapped_column(Integer, server_default="0")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version or 0}"

    def end_all_sessions(self) -> None:
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def canvas_token(self) -> str | None:
        return decrypt_token(self.canvas_token_encrypted) if self.canvas_token_encrypted else None

    @canvas_token.setter
    def canvas_token(self, token: str | None) -> None:
        if token:
            self.canvas_token_encrypted = encrypt_token(token)
            self.canvas_token_hint = token[-4:]
        else:
            self.canvas_token_encrypted = None
            self.canvas_token_hint = None

    @property
    def has_canvas(self) -> bool:
        return bool(self.canvas_base_url and self.canvas_token_encrypted)

    def __repr__(self) -> str:  # never include the token
        return f"<User {self.id} {self.email}>"
