"""The one Settings page: the Canvas form, a section per read-only source, the calendar feed."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, render_template
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import UserConnection
from app.models.canvas import CLASSROOM, SCHOOLOGY, SOURCE_NAMES
from app.web.settings.calendar import calendar_section
from app.web.settings.preferences import preferences_form
from app.web.settings.forms import CanvasForm, ClassroomForm, DisconnectForm, SchoologyForm, SourceActionForm


@dataclass
class SourceSection:
    system: str
    name: str
    form: object
    connection: UserConnection | None


def connection_of(user_id: int, system: str) -> UserConnection | None:
    return db.session.scalar(select(UserConnection).where(UserConnection.user_id == user_id,
                                                          UserConnection.system == system))


def classroom_form(connection: UserConnection | None, *, formdata=None) -> ClassroomForm:
    form = ClassroomForm(prefix=CLASSROOM, formdata=formdata)
    if formdata is None:
        form.api_url.data = (connection and connection.base_url) or current_app.config["CLASSROOM_API_URL"]
        if connection and connection.connected:
            form.token_kind.data = connection.credentials.get("token_kind", "oauth")
    return form


def schoology_form(connection: UserConnection | None, *, formdata=None) -> SchoologyForm:
    form = SchoologyForm(prefix=SCHOOLOGY, formdata=formdata)
    if formdata is None:
        form.base_url.data = (connection and connection.base_url) or current_app.config["SCHOOLOGY_API_URL"]
    return form


def render_settings(canvas_form: CanvasForm | None = None, *, forms: dict | None = None, preferences=None):
    """The page; `forms` replaces a source's blank form (one that failed validation keeps its errors)."""
    user = current_user
    if canvas_form is None:
        canvas_form = CanvasForm(formdata=None)
        canvas_form.base_url.data = user.canvas_base_url
    canvas_form.token.data = ""  # never echo a token back into the page
    forms = forms or {}
    sections = []
    for system, build in ((CLASSROOM, classroom_form), (SCHOOLOGY, schoology_form)):
        connection = connection_of(user.id, system)
        form = forms.get(system) or build(connection)
        for secret in ("token", "consumer_key", "consumer_secret"):
            if hasattr(form, secret):
                getattr(form, secret).data = ""  # nor a key or secret
        sections.append(SourceSection(system, SOURCE_NAMES[system], form, connection))
    return render_template("settings/canvas.html", form=canvas_form, disconnect_form=DisconnectForm(),
                           sources=sections, action_form=SourceActionForm(formdata=None),
                           calendar=calendar_section(user),
                           preferences=preferences or preferences_form(user))
