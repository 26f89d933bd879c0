"""Jinja filters shared by the pages: times in the display zone, numbers without noise, safe links and HTML."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app
from markupsafe import Markup

from app.sync.sanitize import safe_url, sanitize_html


def display_zone() -> ZoneInfo | timezone:
    name = current_app.config.get("DISPLAY_TIMEZONE") or "UTC"
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return timezone.utc


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(display_zone())


def format_datetime(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    local = to_local(value)
    return local.strftime(fmt) if local else "—"


def format_time(value: datetime | None) -> str:
    return format_datetime(value, "%H:%M")


def format_day(value: date) -> str:
    return value.strftime("%A %d %B")


def format_number(value: float | int | None, digits: int = 2) -> str:
    """12.0 -> '12', 12.5 -> '12.5', None -> '—'."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


def source_label(system: str | None) -> str:
    from app.models.canvas import SOURCE_LABELS

    return SOURCE_LABELS.get(system or "canvas", system or "")


def source_name(system: str | None) -> str:
    from app.models.canvas import SOURCE_NAMES

    return SOURCE_NAMES.get(system or "canvas", system or "")
def clean_html(value: str | None) -> Markup:
    """HTML from another system, cleaned again here: a page never trusts a stored body blindly."""
    return Markup(sanitize_html(value))


def register_filters(app: Flask) -> None:
    app.add_template_filter(source_label, "source_label")
    app.add_template_filter(source_name, "source_name")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_time, "time")
    app.add_template_filter(format_day, "day")
    app.add_template_filter(format_number, "num")
    app.add_template_filter(format_percent, "pct")
    app.add_template_filter(format_duration, "duration")
    app.add_template_filter(safe_url, "safe_url")  # http(s) links only: no javascript: from Canvas data
    app.add_template_filter(clean_html, "clean_html")
