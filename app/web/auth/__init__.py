from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.web.auth import routes  # noqa: E402,F401
from app.web.auth import canvas_oauth  # noqa: E402,F401
from app.web.auth import google_oauth  # noqa: E402,F401
