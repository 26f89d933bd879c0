"""Leadership of a singleton service (the scheduler) through one `service_heartbeat` row.

`hold` is called on every beat: it creates the row, renews it for its owner, or takes
it over once it expired, each by a compare-and-set, so two contenders never both lead.
"""
from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ServiceHeartbeat
from app.models.types import utcnow

Beat = ServiceHeartbeat


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def hold(session: Session, name: str, owner: str, *, ttl: timedelta, now: datetime | None = None) -> bool:
    """Renew or take leadership; True when `owner` leads until now + ttl."""
    now = now or utcnow()
    values = dict(owner=owner, beat_at=now, expires_at=now + ttl)
    renewed = session.execute(
        update(Beat).where(Beat.name == name, (Beat.owner == owner) | (Beat.expires_at < now)).values(**values)
        .execution_options(synchronize_session=False)).rowcount == 1
    if renewed:
        session.commit()
        return True
    try:
        session.execute(insert(Beat).values(name=name, **values))
        session.commit()
        return True
    except IntegrityError:  # someone else holds it (or just took it)
        session.rollback()
        return False


def release(session: Session, name: str, owner: str) -> None:
    session.execute(delete(Beat).where(Beat.name == name, Beat.owner == owner))
    session.commit()


def holder(session: Session, name: str) -> ServiceHeartbeat | None:
    return session.get(Beat, name)
