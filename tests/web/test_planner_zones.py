"""Every date in the user's own zone and clock; a day's list is the user's local day."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import g
from icalendar import Calendar

from app.extensions import db
from app.models import User
from app.web.calendar.secrets import ensure_feed, secret_of
from tests.web.conftest import add_assignment, add_course, login, make_user, now, post

DENVER, BERLIN = ZoneInfo("America/Denver"), ZoneInfo("Europe/Berlin")


def evening_in_denver(days_ahead: int = 3) -> datetime:
    local_day = (now().astimezone(DENVER) + timedelta(days=days_ahead)).date()
    return datetime.combine(local_day, time(18, 30), tzinfo=DENVER).astimezone(timezone.utc)


def day_of(page: str, name: str) -> str:
    """The data-day of the Upcoming card that lists ``name``."""
    for day, body in re.findall(r'<section class="card day" data-day="([\d-]+)">(.*?)</section>', page, re.S):
        if name in body:
            return day
    raise AssertionError(f"{name} is on no day")


def feed_start(client, user) -> datetime:
    body = client.get(f"/calendar/{secret_of(ensure_feed(user))}.ics").data
    event = next(iter(Calendar.from_ical(body).walk("VEVENT")))
    return event.decoded("DTSTART")


def test_an_evening_deadline_in_denver_is_on_its_local_day_for_denver_and_the_next_for_berlin(app, client):
    due = evening_in_denver()
    users = {}
    for email, zone in (("denver@example.edu", "America/Denver"), ("berlin@example.edu", "Europe/Berlin")):
        user = make_user(email)
        user.time_zone = zone
        course = add_course(user, "Evening Course")
        a = add_assignment(course, "Evening essay")
        a.due_at = due
        db.session.commit()
        users[zone] = user

    login(client, "denver@example.edu")
    denver_page = client.get("/").get_data(as_text=True)
    assert day_of(denver_page, "Evening essay") == due.astimezone(DENVER).date().isoformat()
    assert "18:30" in denver_page and "America/Denver (M" in denver_page
    denver_start = feed_start(client, users["America/Denver"])

    client = app.test_client()
    for leftover in ("_login_user", "csrf_token"):  # the test's app context outlives requests
        g.pop(leftover, None)
    login(client, "berlin@example.edu")
    berlin_page = client.get("/").get_data(as_text=True)
    berlin_day = due.astimezone(BERLIN).date()
    assert berlin_day == due.astimezone(DENVER).date() + timedelta(days=1)
    assert day_of(berlin_page, "Evening essay") == berlin_day.isoformat()
    assert due.astimezone(BERLIN).strftime("%H:%M") in berlin_page and "Europe/Berlin (CE" in berlin_page
    berlin_start = feed_start(client, users["Europe/Berlin"])

    assert denver_start == berlin_start == due  # the same instant in both feeds


def test_twelve_hour_clock_and_chosen_zone_from_settings(app, client):
    user = make_user("clock@example.edu")
    user.time_zone = "America/Denver"
    course = add_course(user, "Clock Course")
    add_assignment(course, "Clock essay").due_at = evening_in_denver()
    db.session.commit()
    login(client, user.email)
    response = post(client, "/settings/preferences", {"prefs-time_zone": "Asia/Tokyo", "prefs-clock": "12",
                                                      "prefs-feed_alarm": "60"})
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert (saved.time_zone, saved.time_zone_chosen, saved.clock_24h, saved.feed_alarm_minutes) == (
        "Asia/Tokyo", True, False, 60)
    page = client.get("/").get_data(as_text=True)
    tokyo = evening_in_denver().astimezone(ZoneInfo("Asia/Tokyo"))
    hour = tokyo.hour % 12 or 12
    assert f"{hour}:{tokyo:%M} {'am' if tokyo.hour < 12 else 'pm'}" in page
    assert "Asia/Tokyo (JST)" in page
    settings = client.get("/settings/").get_data(as_text=True)
    assert '<option selected value="Asia/Tokyo">' in settings or 'value="Asia/Tokyo" selected' in settings

    bad = post(client, "/settings/preferences", {"prefs-time_zone": "Mars/Olympus", "prefs-clock": "24",
                                                 "prefs-feed_alarm": ""})
    assert bad.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).time_zone == "Asia/Tokyo"


def test_field_help_is_shown_under_each_field(logged_in):
    page = logged_in.get("/settings/").get_data(as_text=True)
    assert re.search(r'aria-describedby="base_url-help"', page)
    assert 'id="base_url-help">For example school.instructure.com' in page
    assert "A reminder on each deadline in the calendar feed" in page
