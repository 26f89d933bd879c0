"""Alerts: a problem is detected, recorded and sent once per episode, and resolved when it clears.

Three conditions, thresholds in config:
* a user's last ALERT_FAILURES_IN_A_ROW finished syncs all failed;
* a connected user has had no successful sync for ALERT_NO_SUCCESS_HOURS;
* more than ALERT_QUEUE_BACKLOG operations are due in the queue.

`evaluate` runs on every scheduler tick (only the leader ticks, so one process decides).
An episode is one `sync_alert` row: opened when the condition appears, kept (last_seen_at)
while it holds, resolved when it is gone. Each channel (a webhook URL, SMTP email) gets
the opening and the resolution once; a channel that failed is tried again on the next
evaluation, so an outage of the receiver does not lose the alert.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import SyncAlert, SyncOperation, SyncRun, User
from app.models.types import utcnow
from app.ops.mail import send_email
from app.services.egress import default_policy
from app.services.http import ApiError, HttpClient, SystemErrors, build_session
from app.sync.queue import due_condition

log = logging.getLogger(__name__)
Alert = SyncAlert


class WebhookError(ApiError):
    system = "The alert webhook"


class WebhookUnavailable(WebhookError):
    retriable = True


WEBHOOK_ERRORS = SystemErrors(
    name="The alert webhook", base=WebhookError, unavailable=WebhookUnavailable,
    throttled=lambda status=None: WebhookUnavailable("The alert webhook kept throttling.", status=status),
    bad_response=WebhookError,
    error_for=lambda response: WebhookError(f"The alert webhook refused the alert ({response.status_code}).",
                                            status=response.status_code),
)


@dataclass(frozen=True)
class Thresholds:
    failures_in_a_row: int = 3
    no_success: timedelta = timedelta(hours=24)
    queue_backlog: int = 100

    @classmethod
    def from_config(cls, config) -> "Thresholds":
        return cls(failures_in_a_row=config["ALERT_FAILURES_IN_A_ROW"],
                   no_success=timedelta(hours=config["ALERT_NO_SUCCESS_HOURS"]),
                   queue_backlog=config["ALERT_QUEUE_BACKLOG"])


@dataclass
class Condition:
    kind: str
    subject: str
    message: str
    user_id: int | None = None
    details: dict = field(default_factory=dict)


def detect(session: Session, now: datetime, t: Thresholds) -> list[Condition]:
    found: list[Condition] = []
    emails = dict(session.execute(select(User.id, User.email)).all())
    # The last N finished runs of each user, newest first (a window function on every backend).
    ranked = (select(SyncRun.user_id, SyncRun.status, SyncRun.error,
                     func.row_number().over(partition_by=SyncRun.user_id, order_by=SyncRun.id.desc()).label("n"))
              .where(SyncRun.status.in_(SyncRun.FINISHED_STATES)).subquery())
    recent: dict[int, list[tuple[str, str | None]]] = {}
    for user_id, status, error in session.execute(
            select(ranked.c.user_id, ranked.c.status, ranked.c.error).where(ranked.c.n <= t.failures_in_a_row)
            .order_by(ranked.c.user_id, ranked.c.n)):
        recent.setdefault(user_id, []).append((status, error))
    for user_id, runs in recent.items():
        if len(runs) == t.failures_in_a_row and all(status == SyncRun.FAILED for status, _ in runs):
            found.append(Condition(Alert.USER_FAILING, f"user:{user_id}", user_id=user_id,
                                   message=f"The last {len(runs)} syncs of {emails.get(user_id)} failed: {runs[0][1]}",
                                   details={"last_error": runs[0][1]}))

    last_success = dict(session.execute(select(SyncRun.user_id, func.max(SyncRun.started_at))
                                        .where(SyncRun.status == SyncRun.SUCCEEDED).group_by(SyncRun.user_id)).all())
    cutoff = now - t.no_success
    for user_id, created_at in session.execute(
            select(User.id, User.created_at).where(User.canvas_token_encrypted.is_not(None))):
        since = _aware(last_success.get(user_id)) or _aware(created_at)
        if since is not None and since < cutoff:
            hours = t.no_success.total_seconds() / 3600
            found.append(Condition(Alert.USER_STALE, f"user:{user_id}", user_id=user_id,
                                   message=f"{emails.get(user_id)} has had no successful sync for over {hours:g} hours.",
                                   details={"last_success": since.isoformat(timespec="seconds")}))

    due = session.scalar(select(func.count()).select_from(SyncOperation).where(due_condition(now))) or 0
    if due > t.queue_backlog:
        found.append(Condition(Alert.QUEUE_BACKLOG, "queue", message=f"{due} operations are waiting in the sync "
                               f"queue (more than {t.queue_backlog}).", details={"due": due}))
    return found


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


class Notifier:
    """Sends an alert's opening or resolution to the configured channels."""

    def __init__(self, config):
        self.webhook_url = config.get("ALERT_WEBHOOK_URL") or None
        self.email_to = [a.strip() for a in (config.get("ALERT_EMAIL_TO") or "").split(",") if a.strip()]
        self.smtp = {k: config.get(f"SMTP_{k.upper()}") for k in ("host", "port", "username", "password", "from",
                                                                 "starttls")}

    @property
    def channels(self) -> list[str]:
        return (["webhook"] if self.webhook_url else []) + (["email"] if self.email_to and self.smtp["host"] else [])

    def send(self, channel: str, alert: SyncAlert, state: str) -> bool:
        try:
            (self._webhook if channel == "webhook" else self._email)(alert, state)
            return True
        except Exception as exc:  # noqa: BLE001 - a failed channel is retried on the next evaluation
            log.warning("event=alert_send_failed channel=%s alert_id=%s error=%s", channel, alert.id,
                        type(exc).__name__)
            return False

    @staticmethod
    def payload(alert: SyncAlert, state: str) -> dict:
        return {"state": state, "id": alert.id, "kind": alert.kind, "subject": alert.subject,
                "message": alert.message, "opened_at": alert.opened_at.isoformat(timespec="seconds"),
                "resolved_at": alert.resolved_at.isoformat(timespec="seconds") if alert.resolved_at else None,
                "details": alert.details}

    def _webhook(self, alert: SyncAlert, state: str) -> None:
        # The operator configured this address, so its host is allowed even when internal;
        # redirects elsewhere are still refused and the answer is bounded like any other.
        host = (urlsplit(self.webhook_url).hostname or "").lower()
        base = default_policy()
        policy = dataclasses.replace(base, allow_hosts=base.allow_hosts | {host})
        with build_session(total_retries=2, policy=policy) as session:
            client = HttpClient(session, WEBHOOK_ERRORS, [self.webhook_url], timeout=10, connect_timeout=5,
                                deadline_s=20, max_body_bytes=1024 * 1024, max_retries=2)
            client.request("POST", self.webhook_url, json=self.payload(alert, state), what="the alert webhook")

    def _email(self, alert: SyncAlert, state: str) -> None:
        send_email({f"SMTP_{k.upper()}": v for k, v in self.smtp.items()}, self.email_to,
                   f"[Canvas Flow] {'Resolved' if state == 'resolved' else 'Alert'}: {alert.message[:120]}",
                   json.dumps(self.payload(alert, state), indent=2))


def evaluate(session: Session, thresholds: Thresholds, notifier: Notifier, now: datetime | None = None) -> dict:
    """Open, keep or resolve alerts against what holds now; send what is unsent. Returns ids."""
    now = now or utcnow()
    conditions = {(c.kind, c.subject): c for c in detect(session, now, thresholds)}
    open_alerts = {(a.kind, a.subject): a for a in session.scalars(select(Alert).where(Alert.status == Alert.OPEN))}
    opened, resolved = [], []
    for key, condition in conditions.items():
        alert = open_alerts.get(key)
        if alert is None:
            alert = Alert(kind=condition.kind, subject=condition.subject, user_id=condition.user_id,
                          status=Alert.OPEN, message=condition.message, opened_at=now, last_seen_at=now,
                          details_json=json.dumps(condition.details, default=str))
            session.add(alert)
            opened.append(alert)
        else:
            alert.last_seen_at, alert.message = now, condition.message
    for key, alert in open_alerts.items():
        if key not in conditions:
            alert.status, alert.resolved_at = Alert.RESOLVED, now
            resolved.append(alert)
    session.commit()
    _deliver(session, notifier, now)
    return {"opened": [a.id for a in opened], "resolved": [a.id for a in resolved]}


def _deliver(session: Session, notifier: Notifier, now: datetime) -> None:
    channels = notifier.channels
    if not channels:
        return
    # Open alerts, and resolutions of the last day (older ones are not worth sending late).
    candidates = session.scalars(select(Alert).where(
        (Alert.status == Alert.OPEN) | (Alert.resolved_at > now - timedelta(days=1)))).all()
    for alert in candidates:
        sent = set(filter(None, (alert.sent_to or "").split(",")))
        done = set(filter(None, (alert.resolution_sent_to or "").split(",")))
        for channel in channels:
            if channel not in sent and notifier.send(channel, alert, "firing"):
                sent.add(channel)
            if (alert.status == Alert.RESOLVED and channel in sent and channel not in done
                    and notifier.send(channel, alert, "resolved")):
                done.add(channel)
        alert.sent_to = ",".join(c for c in channels if c in sent) or None
        alert.resolution_sent_to = ",".join(c for c in channels if c in done) or None
    session.commit()
