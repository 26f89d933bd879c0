"""The operations dashboard's numbers, read from sync_run and sync_operation."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
import bisect
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import SyncAlert, SyncOperation, SyncRun, User
from app.models.types import utcnow
from app.ops.charts import Bar
from app.sync.queue import due_condition

FINISHED = SyncRun.FINISHED_STATES


@dataclass
class HistoryFilter:
    user: str | None = None      # email, substring
    kind: str | None = None      # full, incremental, course
    status: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, stmt):
        """Filters a select() that already joins User."""
        if self.user:
            stmt = stmt.where(User.email.contains(self.user.strip().lower()))
        for column, value in ((SyncRun.kind, self.kind), (SyncRun.status, self.status),
                              (SyncRun.trigger, self.trigger)):
            if value:
                stmt = stmt.where(column == value)
        if self.since:
            stmt = stmt.where(SyncRun.started_at >= self.since)
        if self.until:
            stmt = stmt.where(SyncRun.started_at < self.until)
        return stmt


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(session: Session, now: datetime | None = None, *, window: timedelta = timedelta(hours=24)) -> dict:
    now = now or utcnow()
    runs = session.execute(select(SyncRun.status, SyncRun.started_at, SyncRun.finished_at, SyncRun.requests,
                                  SyncRun.throttles, SyncRun.retries)
                           .where(SyncRun.started_at >= now - window)).all()
    by_status = Counter(r.status for r in runs)
    finished = [r for r in runs if r.status in FINISHED]
    durations = [(r.finished_at - r.started_at).total_seconds() for r in finished if r.finished_at]
    done_ops = session.scalar(select(func.count()).select_from(SyncOperation).where(
        SyncOperation.finished_at >= now - timedelta(hours=1))) or 0
    return {
        "by_status": dict(by_status),
        "success_rate": (by_status[SyncRun.SUCCEEDED] / len(finished)) if finished else None,
        "p50_s": percentile(durations, 50), "p95_s": percentile(durations, 95),
        "requests": sum(r.requests or 0 for r in runs), "throttles": sum(r.throttles or 0 for r in runs),
        "retries": sum(r.retries or 0 for r in runs),
        "queue_depth": session.scalar(select(func.count()).select_from(SyncOperation)
                                      .where(due_condition(now))) or 0,
        "queue_by_status": dict(session.execute(select(SyncOperation.status, func.count())
                                                .group_by(SyncOperation.status)).all()),
        # Waiting work, whether due now or later (a backoff, a schedule): what "in the queue" means.
        "queue_waiting": session.scalar(select(func.count()).select_from(SyncOperation)
                                        .where(SyncOperation.status.in_((SyncOperation.PENDING,
                                                                         SyncOperation.IN_PROGRESS)))) or 0,
        "ops_per_hour": done_ops,
    }


def calendar_chart(session: Session, now: datetime, zone, *, days: int | None = None, hours: int | None = None,
                   user_id: int | None = None) -> list[Bar]:
    """Runs by outcome per calendar day (or clock hour) in ``zone``, the last one the current one,
    each labelled with the day (hour) it is: today's runs are under today."""
    local_now = now.astimezone(zone)
    if days is not None:
        first = local_now.date() - timedelta(days=days - 1)
        starts = [datetime.combine(first + timedelta(days=i), datetime.min.time(), tzinfo=zone) for i in range(days)]
        labels = [f"{d:%d %b}" for d in starts]
    else:
        top = local_now.replace(minute=0, second=0, microsecond=0)
        # Whole hours as instants (a DST change makes a local hour repeat or vanish).
        starts = [(top.astimezone(timezone.utc) - timedelta(hours=hours - 1 - i)).astimezone(zone)
                  for i in range(hours)]
        labels = [f"{h:%H}:00" for h in starts]
    bounds = [s.astimezone(timezone.utc) for s in starts]
    counts: list[Counter] = [Counter() for _ in starts]
    stmt = select(SyncRun.status, SyncRun.started_at).where(SyncRun.started_at >= bounds[0],
                                                            SyncRun.status.in_(FINISHED))
    if user_id is not None:
        stmt = stmt.where(SyncRun.user_id == user_id)
    for status, started in session.execute(stmt):
        index = bisect.bisect_right(bounds, started) - 1
        if index >= 0:
            counts[index][status] += 1
    return [Bar(label, dict(c)) for label, c in zip(labels, counts)]


def failed_operations(session: Session, *, limit: int = 500) -> list[SyncOperation]:
    """Queue operations that failed for good, newest first: the error summary counts them too."""
    return session.scalars(select(SyncOperation).where(SyncOperation.status == SyncOperation.FAILED)
                           .order_by(SyncOperation.id.desc()).limit(limit)).all()


def error_groups(session: Session, now: datetime, *, days: int = 7) -> list[dict]:
    """Recent failures grouped by cause (their plain message), with a per-day trend, biggest first."""
    groups: dict[str, dict] = {}
    start = now - timedelta(days=days)
    for error, started, user_id in session.execute(
            select(SyncRun.error, SyncRun.started_at, SyncRun.user_id)
            .where(SyncRun.started_at >= start, SyncRun.status.in_([SyncRun.FAILED, SyncRun.PARTIAL]))):
        cause = (error or "Unknown error").split(":")[0][:160]
        group = groups.setdefault(cause, {"cause": cause, "count": 0, "users": set(), "per_day": [0] * days,
                                          "last": started})
        group["count"] += 1
        group["users"].add(user_id)
        group["per_day"][min(days - 1, int((started - start) / timedelta(days=1)))] += 1
        group["last"] = max(group["last"], started)
    ordered = sorted(groups.values(), key=lambda g: -g["count"])
    for g in ordered:
        g["users"] = len(g["users"])
        half = days // 2
        g["trend"] = ("rising" if sum(g["per_day"][half:]) > sum(g["per_day"][:half]) else
                      "falling" if sum(g["per_day"][half:]) < sum(g["per_day"][:half]) else "steady")
    return ordered


def history(session: Session, filters: HistoryFilter, *, limit: int = 100) -> list[tuple[SyncRun, str]]:
    stmt = filters.apply(select(SyncRun, User.email).join(User, SyncRun.user_id == User.id))
    return session.execute(stmt.order_by(SyncRun.id.desc()).limit(limit)).all()


def operations(session: Session, *, limit: int = 50) -> list[SyncOperation]:
    return session.scalars(select(SyncOperation).order_by(SyncOperation.id.desc()).limit(limit)).all()


def open_alerts(session: Session) -> list[SyncAlert]:
    return session.scalars(select(SyncAlert).order_by(SyncAlert.status, SyncAlert.opened_at.desc()).limit(50)).all()
