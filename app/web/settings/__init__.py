from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")

from app.web.settings import calendar, preferences, routes, sources  # noqa: E402,F401
