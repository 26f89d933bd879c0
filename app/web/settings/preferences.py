"""The preferences section of Settings: the user's time zone and clock, and the feed's reminder."""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user

from app.extensions import db
from app.web.filters import user_zone
from app.web.settings import bp
from app.web.settings.forms import PreferencesForm


def preferences_form(user, *, formdata=None) -> PreferencesForm:
    form = PreferencesForm(prefix="prefs", formdata=formdata)
    if formdata is None:
        form.time_zone.data = getattr(user_zone(user), "key", "UTC")
        form.clock.data = "24" if user.clock_24h is not False else "12"
        form.feed_alarm.data = str(user.feed_alarm_minutes or "")
    return form


@bp.route("/preferences", methods=["POST"])
def preferences():
    from app.web.settings.page import render_settings

    form = PreferencesForm(prefix="prefs")
    if not form.validate_on_submit():
        return render_settings(preferences=form), 400
    user = current_user
    if form.time_zone.data != user.time_zone or not user.time_zone_chosen:
        user.time_zone = form.time_zone.data
        user.time_zone_chosen = True  # a sync no longer replaces it with Canvas's
    user.clock_24h = form.clock.data == "24"
    user.feed_alarm_minutes = int(form.feed_alarm.data) if form.feed_alarm.data else None  # choices validated
    db.session.commit()
    flash(f"Saved. Dates are shown in {user.time_zone.replace('_', ' ')}.", "success")
    return redirect(url_for("settings.canvas", _anchor="preferences"))
