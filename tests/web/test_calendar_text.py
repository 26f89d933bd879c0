"""Feed text from other systems: control characters (a bare CR, a CRLF in a link) never break the feed."""
from __future__ import annotations

from datetime import timedelta

import ics
from icalendar import Calendar

from app.extensions import db
from app.web.calendar.secrets import ensure_feed, secret_of
from tests.web.conftest import add_assignment, add_course, make_user

ME = 77


def test_cr_and_crlf_in_feed_text_give_a_valid_feed(app, client):
    user = make_user(canvas=True, canvas_user_id=ME)
    course = add_course(user, "Biology\r101", course_code="BIO\r101\x07")
    add_assignment(course, "Essay\r\non cells\x1b[31m", due_in=timedelta(days=2), points=25,
                   html_url="https://canvas.example.edu/courses/9/assignments/1\r\nX-Injected: yes")
    add_assignment(course, "Lab\rreport", due_in=timedelta(days=3),
                   html_url="https://canvas.example.edu/courses/9/\tassignments/2")
    db.session.commit()

    response = client.get(f"/calendar/{secret_of(ensure_feed(user))}.ics")
    assert response.status_code == 200
    body = response.get_data()
    # Every line ends in CRLF and no CR stands alone (RFC 5545 3.1).
    assert body.endswith(b"\r\n") and b"\r" not in body.replace(b"\r\n", b"")
    assert b"\x07" not in body and b"\x1b" not in body
    assert b"\r\nX-Injected" not in body  # the link's CRLF did not start a property of its own
    events = {str(e["SUMMARY"]): e for e in Calendar.from_ical(body).walk("VEVENT")}
    assert set(events) == {"Essay  on cells[31m", "Lab report"}
    essay = events["Essay  on cells[31m"]
    assert "Course: Biology 101 (BIO 101)" in str(essay["DESCRIPTION"])
    assert "\r" not in str(essay.get("URL", "")) and "\n" not in str(essay.get("URL", ""))
    assert str(events["Lab report"]["URL"]) == "https://canvas.example.edu/courses/9/assignments/2"
    assert len(ics.Calendar(body.decode("utf-8")).events) == 2  # an independent parser agrees
