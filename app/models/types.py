"""Column types shared by the models: UTC timestamps and long text that fit every backend."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, LargeBinary, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.models import raw_codec


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC (MariaDB DATETIME has no zone), returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


# Raw Canvas JSON can exceed TEXT's 64 KB on MariaDB (assignment descriptions).
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")
# Compressed raw JSON (app/models/raw_codec.py); MariaDB's BLOB stops at 64 KB.
LongBlob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql").with_variant(mysql.LONGBLOB(), "mariadb")


class RawJsonMixin:
    """A row's raw API JSON, compressed (app/models/raw_codec.py); read and write it through `raw_json`."""

    raw_deflate: Mapped[bytes | None] = mapped_column(LongBlob)

    @property
    def raw_json(self) -> str | None:
        return raw_codec.unpack(self.raw_deflate)

    @raw_json.setter
    def raw_json(self, text: str | bytes | None) -> None:
        self.raw_deflate = raw_codec.pack(text)
