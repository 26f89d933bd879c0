"""A course's Discussions page: Canvas, Discourse and Canvas Flow threads as one (the hub's view).

The owner of the course reads, replies and edits here; the owner or an admin links the
course to a Discourse category. Everything shown comes from the hub (app/sync/hub/).
"""
from flask import Blueprint

bp = Blueprint("discussions", __name__)

from app.web.discussions import routes  # noqa: E402,F401
