"""The private iCalendar feed of a user's deadlines: ``/calendar/<secret>.ics``.

The URL is a capability: whoever holds it reads the feed, with no session (calendar apps
have none). The secret's management is in secrets.py, the feed itself in feed.py.
"""
from flask import Blueprint

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

from app.web.calendar import routes  # noqa: E402,F401
