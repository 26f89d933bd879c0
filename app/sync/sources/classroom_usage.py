"""Google Classroom usage by date: catch up from the last stored as-of date in bounded windows.

The Admin Reports API gives one report per user per date (``usage/users/all/dates/{date}``)
and nothing like "changed since". A run starts the day after the newest as-of date
already stored for this user (or the school year's first day), ends at the configured
end date or today, and walks that span in windows of at most ``window_days`` dates.
Each window is written in one transaction, so a long catch-up is a series of bounded
pulls and a failure keeps every window before it. Google's reports lag a few days:
the first date it says is "not yet available" ends the run (not an error); the next run
starts there again.

Rows are keyed by (user, Google user email, as-of date); fetching a date again replaces
that date's rows, so an overlap never doubles them.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.models import raw_codec
from app.models.classroom_usage import ClassroomUsage
from app.models.types import utcnow
from app.services.classroom_api_service import ClassroomAPIError, ClassroomAPIService, UsageNotYetAvailable
from app.sync.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

# Google dates its reports in Pacific Standard Time (UTC-8) all year.
REPORTS_UTC_OFFSET = timedelta(hours=-8)


@dataclass(frozen=True)
class UsageSettings:
    school_year_start: date
    window_days: int = 7
    end_date: date | None = None

    def __post_init__(self):
        if self.window_days < 1:
            raise ValueError("CLASSROOM_USAGE_WINDOW_DAYS must be at least 1.")
        if self.end_date is not None and self.end_date < self.school_year_start:
            raise ValueError("CLASSROOM_USAGE_END_DATE is before CLASSROOM_SCHOOL_YEAR_START.")

    @classmethod
    def from_config(cls, config) -> UsageSettings:
        start = _config_date(config, "CLASSROOM_SCHOOL_YEAR_START")
        if start is None:
            raise ValueError("Set CLASSROOM_SCHOOL_YEAR_START (YYYY-MM-DD) to import Google Classroom usage.")
        return cls(start, int(config.get("CLASSROOM_USAGE_WINDOW_DAYS") or 7),
                   _config_date(config, "CLASSROOM_USAGE_END_DATE"))


@dataclass
class UsageWindow:
    start: date
    end: date
    dates: list[date] = field(default_factory=list)  # the dates fetched and stored
    rows: int = 0
    not_yet_available: date | None = None  # the first date Google had no data for, if any

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "dates": len(self.dates),
                "rows": self.rows, "not_yet_available": _iso(self.not_yet_available)}


@dataclass
class UsageRun:
    first_date: date | None
    last_date: date | None
    windows: list[UsageWindow] = field(default_factory=list)
    caught_up: bool = False  # nothing left to fetch before the end date (or Google's newest data)

    @property
    def dates(self) -> list[date]:
        return [d for w in self.windows for d in w.dates]

    def as_dict(self) -> dict:
        return {"first_date": _iso(self.first_date), "last_date": _iso(self.last_date), "caught_up": self.caught_up,
                "windows": [w.as_dict() for w in self.windows], "rows": sum(w.rows for w in self.windows)}


class ClassroomUsageSync:
    def __init__(self, session: Session, client: ClassroomAPIService, user_id: int, settings: UsageSettings, *,
                 today: date | None = None, clock=utcnow):
        self.session = session
        self.client = client
        self.user_id = user_id
        self.settings = settings
        self.clock = clock
        self.today = today or (clock() + REPORTS_UTC_OFFSET).date()

    @classmethod
    def from_config(cls, session: Session, client: ClassroomAPIService, user_id: int, config,
                    **kwargs) -> ClassroomUsageSync:
        """Settings from CLASSROOM_SCHOOL_YEAR_START, CLASSROOM_USAGE_WINDOW_DAYS, CLASSROOM_USAGE_END_DATE."""
        return cls(session, client, user_id, UsageSettings.from_config(config), **kwargs)

    def last_stored_date(self) -> date | None:
        return self.session.scalar(select(func.max(ClassroomUsage.as_of_date))
                                   .where(ClassroomUsage.user_id == self.user_id))

    def span(self) -> tuple[date, date]:
        """(first, last) date this run should fetch; first > last when there is nothing to do."""
        last = self.last_stored_date()
        first = max(self.settings.school_year_start, last + timedelta(days=1)) if last else \
            self.settings.school_year_start
        end = min(self.settings.end_date, self.today) if self.settings.end_date else self.today
        return first, end

    def windows(self) -> list[tuple[date, date]]:
        first, end = self.span()
        out = []
        step = timedelta(days=self.settings.window_days)
        start = first
        while start <= end:
            out.append((start, min(end, start + step - timedelta(days=1))))
            start += step
        return out

    def run(self, *, max_windows: int | None = None, time_budget_s: float = 600.0) -> UsageRun:
        """Fetch the planned windows in order (at most ``max_windows``, stopping once the budget is spent)."""
        planned = self.windows()
        run = UsageRun(planned[0][0] if planned else None, planned[-1][1] if planned else None)
        deadline = time.monotonic() + time_budget_s
        for i, (start, end) in enumerate(planned):
            if (max_windows is not None and i >= max_windows) or time.monotonic() > deadline:
                return run
            window = self.pull_window(start, end)
            run.windows.append(window)
            log.info("event=classroom_usage_window user_id=%s start=%s end=%s dates=%d rows=%d", self.user_id,
                     start, end, len(window.dates), window.rows)
            if window.not_yet_available is not None:
                run.caught_up = True  # Google has nothing newer yet
                return run
        run.caught_up = True
        return run

    def pull_window(self, start: date, end: date) -> UsageWindow:
        """Fetch start..end (inclusive) and replace those dates' rows in one transaction."""
        window = UsageWindow(start, end)
        by_date: dict[date, dict[str, dict]] = {}
        day = start
        try:
            while day <= end:
                try:
                    reports = list(self.client.iter_usage_reports(day))
                except UsageNotYetAvailable:
                    window.not_yet_available = day
                    break
                by_date[day] = {}
                for report in reports:
                    row = usage_row(report)
                    if row is not None:
                        by_date[day][row["user_email"]] = row  # one row per user and date
                day += timedelta(days=1)
        except ClassroomAPIError as exc:
            error = PermanentError if exc.permanent else TransientError
            raise error(exc.message, context={"system": "classroom", "status": exc.status}) from None
        if by_date:
            self._replace(by_date)
        window.dates = sorted(by_date)
        window.rows = sum(len(rows) for rows in by_date.values())
        return window

    def _replace(self, by_date: dict[date, dict[str, dict]]) -> None:
        imported_at = self.clock()
        rows = [{**row, "user_id": self.user_id, "as_of_date": day, "imported_at": imported_at}
                for day, users in by_date.items() for row in users.values()]
        try:
            self.session.execute(delete(ClassroomUsage).where(ClassroomUsage.user_id == self.user_id,
                                                              ClassroomUsage.as_of_date.in_(list(by_date))))
            if rows:
                self.session.execute(insert(ClassroomUsage), rows)
            self.session.commit()
        except Exception:
            self.session.rollback()
            raise


def usage_row(report: dict) -> dict | None:
    """One userUsageReport entry as column values (None when it names no user)."""
    entity = report.get("entity") or {}
    email = entity.get("userEmail")
    if not email:
        return None
    values = {}
    for param in report.get("parameters") or []:
        name = param.get("name")
        if not name:
            continue
        for key in ("intValue", "datetimeValue", "stringValue", "boolValue"):
            if key in param:
                values[name] = (key, param[key])
                break
    return {
        "user_email": str(email)[:320], "profile_id": entity.get("profileId"), "customer_id": entity.get("customerId"),
        "role": _text(values.get("classroom:role")), "posts_created": _int(values.get("classroom:num_posts_created")),
        "courses_created": _int(values.get("classroom:num_courses_created")),
        "last_interaction_at": _epoch(_int(values.get("classroom:timestamp_last_interaction"))),
        "last_login_at": _datetime(values.get("accounts:last_login_time")),
        "raw_deflate": raw_codec.pack(json.dumps(report, separators=(",", ":"), sort_keys=True)),
    }


def _int(value) -> int | None:
    if value is None:
        return None
    try:
        return int(value[1])  # int64 arrives as a JSON string
    except (TypeError, ValueError):
        return None


def _text(value) -> str | None:
    return str(value[1])[:16] if value is not None else None


def _datetime(value) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value[1]).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


def _epoch(number: int | None) -> datetime | None:
    """Google documents ``timestamp_last_interaction`` only as "integer"; read s, ms or µs by size."""
    if not number or number < 0:
        return None
    if number > 10 ** 14:
        seconds = number / 1_000_000
    elif number > 10 ** 11:
        seconds = number / 1_000
    else:
        seconds = float(number)
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _config_date(config, key: str) -> date | None:
    value = config.get(key)
    if not value:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{key} must be a date like 2026-08-24, not {value!r}.") from None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
