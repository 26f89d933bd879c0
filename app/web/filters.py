"""Jinja filters shared by the pages: times in the viewer's own zone and clock, numbers without noise, safe links and HTML."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, has_request_context
from markupsafe import Markup

from app.sync.sanitize import safe_url, sanitize_html


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone of that name, or None when the name is empty or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def user_zone(user) -> ZoneInfo | timezone:
    """The zone a user's pages show dates in: their own (Settings, or Canvas's profile), else
    the server's DISPLAY_TIMEZONE, else UTC."""
    own = zone_named(getattr(user, "time_zone", None)) if user is not None else None
    return own or zone_named(current_app.config.get("DISPLAY_TIMEZONE")) or timezone.utc


def _viewer():
    try:
        from flask_login import current_user
        user = current_user._get_current_object() if has_request_context() else None
    except Exception:  # outside a request (CLI, feed): no viewer
        return None
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def display_zone() -> ZoneInfo | timezone:
    """The viewing user's zone during a request, the server's default otherwise."""
    return user_zone(_viewer())


def uses_24h_clock(user=None) -> bool:
    user = user if user is not None else _viewer()
    choice = getattr(user, "clock_24h", None) if user is not None else None
    return True if choice is None else bool(choice)


def zone_label(zone=None, at: datetime | None = None) -> str:
    """"America/Denver (MST)": the zone's name and its abbreviation at that moment."""
    zone = zone or display_zone()
    at = (at or datetime.now(timezone.utc)).astimezone(zone)
    key = getattr(zone, "key", None) or "UTC"
    abbr = at.tzname() or ""
    return key if abbr in ("", key) else f"{key} ({abbr})"


def to_local(value: datetime | None, zone=None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(zone or display_zone())


def _clock(local: datetime, twenty_four: bool, seconds: bool = False) -> str:
    if twenty_four:
        return local.strftime("%H:%M:%S" if seconds else "%H:%M")
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    return f"{hour}:{local:%M}{':' + format(local, '%S') if seconds else ''} {suffix}"


def format_datetime(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M", zone=None,
                    twenty_four: bool | None = None) -> str:
    """A moment in the viewer's zone; the time of day on their 12- or 24-hour clock."""
    local = to_local(value, zone)
    if local is None:
        return "—"
    if twenty_four is None:
        twenty_four = uses_24h_clock()
    # The clock part is formatted apart (strftime's %I/%p depend on the locale and pad with 0).
    fmt = (fmt.replace("%H:%M:%S", _clock(local, twenty_four, seconds=True).replace("%", "%%"))
              .replace("%H:%M", _clock(local, twenty_four).replace("%", "%%")))
    return local.strftime(fmt)


def format_time(value: datetime | None) -> str:
    return format_datetime(value, "%H:%M")


def format_zoned(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """format_datetime followed by the zone's abbreviation: for times a reader could take for another zone's."""
    if value is None:
        return "—"
    return f"{format_datetime(value, fmt)} {to_local(value).tzname() or ''}".rstrip()


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
    from app.web.admin import words

    app.add_template_filter(words.plural, "plural")
    app.add_template_filter(lambda name: words.in_words(words.STRATEGIES, name), "strategy_words")
    app.add_template_filter(lambda name: words.in_words(words.RUN_KINDS, name), "run_kind_words")
    app.add_template_filter(lambda name: words.in_words(words.TRIGGERS, name), "trigger_words")
    app.add_template_filter(source_label, "source_label")
    app.add_template_filter(source_name, "source_name")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_time, "time")
    app.add_template_filter(format_zoned, "zoned")
    app.add_template_global(zone_label, "zone_label")
    app.add_template_filter(format_day, "day")
    app.add_template_filter(format_number, "num")
    app.add_template_filter(format_percent, "pct")
    app.add_template_filter(format_duration, "duration")
    app.add_template_filter(safe_url, "safe_url")  # http(s) links only: no javascript: from Canvas data
    app.add_template_filter(clean_html, "clean_html")
