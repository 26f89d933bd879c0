from flask import Blueprint

bp = Blueprint("planner", __name__)

from app.web.planner import routes  # noqa: E402,F401
