"""The calendar feed's section of Settings: its address, and making a new one or turning it off."""
from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, url_for
from flask_login import current_user

from app.web.calendar.secrets import ensure_feed, regenerate, secret_of, turn_off
from app.web.confirm import confirmation_page, confirmed
from app.web.settings import bp
from app.web.settings.forms import CalendarRegenerateForm, CalendarTurnOffForm


@dataclass
class CalendarSection:
    url: str | None  # None: turned off, or the secret can no longer be decrypted
    webcal_url: str | None  # the same address as webcal://, which calendar apps open as "subscribe"
    revoked: bool
    regenerate_form: CalendarRegenerateForm
    turn_off_form: CalendarTurnOffForm


def calendar_section(user) -> CalendarSection:
    feed = ensure_feed(user)
    secret = secret_of(feed) if feed.active else None
    url = url_for("calendar.feed", secret=secret, _external=True) if secret else None
    webcal = "webcal://" + url.split("://", 1)[1] if url else None
    return CalendarSection(url, webcal, not feed.active, CalendarRegenerateForm(), CalendarTurnOffForm())


@bp.route("/calendar/regenerate", methods=["POST"])
def calendar_regenerate():
    if CalendarRegenerateForm().validate_on_submit():
        if not confirmed():
            return confirmation_page(
                title="Make a new feed address?",
                message="The current address stops working at once: every calendar subscribed to it stops "
                        "updating until you subscribe to the new one.", confirm_label="Make a new address",
                cancel_url=url_for("settings.canvas", _anchor="calendar-feed"))
        regenerate(current_user)
        flash("Your calendar feed has a new address. The old one no longer works: "
              "subscribe to the new one in your calendar app.", "success")
    return redirect(url_for("settings.canvas", _anchor="calendar-feed"))


@bp.route("/calendar/off", methods=["POST"])
def calendar_turn_off():
    if CalendarTurnOffForm().validate_on_submit():
        if not confirmed():
            return confirmation_page(
                title="Turn the calendar feed off?",
                message="Its address stops working at once and subscribed calendars stop updating. You can "
                        "turn it on again later, with a new address.", confirm_label="Turn the feed off",
                cancel_url=url_for("settings.canvas", _anchor="calendar-feed"))
        turn_off(current_user)
        flash("Your calendar feed is off. Its address no longer works.", "info")
    return redirect(url_for("settings.canvas", _anchor="calendar-feed"))
