from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Response, abort, request

from app.extensions import db
from app.models import CalendarFeed, User
from app.models.types import utcnow
from app.web.calendar import bp
from app.web.calendar.feed import feed_body
from app.web.calendar.secrets import find_active

CACHE_CONTROL = "private, no-cache"  # only the subscriber's own client may keep it, and revalidates


def _record_content(feed: CalendarFeed, body: bytes) -> None:
    """Remember when the body last changed: that is the feed's Last-Modified."""
    digest = hashlib.sha256(body).hexdigest()
    if feed.content_hash != digest or feed.content_changed_at is None:
        # HTTP dates have whole seconds; a second change within the same second still moves
        # the date forward, or a client sending only If-Modified-Since would miss it.
        changed_at = utcnow().replace(microsecond=0)
        if feed.content_changed_at is not None and changed_at <= feed.content_changed_at:
            changed_at = feed.content_changed_at + timedelta(seconds=1)
        feed.content_hash = digest
        feed.content_changed_at = changed_at
        db.session.commit()


@bp.get("/<secret>.ics")
def feed(secret: str):
    """No session: the secret in the URL is the credential. Unknown and revoked both 404."""
    found = find_active(secret)
    if found is None:
        abort(404)
    user = db.session.get(User, found.user_id)
    body = feed_body(user)
    _record_content(found, body)
    response = Response(body, mimetype="text/calendar")
    response.set_etag(found.content_hash[:32])
    response.last_modified = found.content_changed_at
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Content-Disposition"] = 'inline; filename="deadlines.ics"'
    response.headers["X-Robots-Tag"] = "noindex"
    return response.make_conditional(request)
