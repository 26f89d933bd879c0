"""The private calendar feed: contents, parsing by two libraries, UIDs, caching, revoking, Settings."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import ics
from icalendar import Calendar
from sqlalchemy import event, select

from app.extensions import db
from app.models import Assignment, CalendarFeed
from app.web.calendar.secrets import ensure_feed, hash_secret, secret_of
from tests.helpers import fast_service, make_canvas_user
from tests.web.conftest import (add_assignment, add_course, add_submission, csrf_token, login, make_user, now,
                                post)

ME = 77  # the student's Canvas id in the seeded tests
URL_RE = re.compile(r'id="calendar-feed-url" value="([^"]+)"')
STATIC = Path(__file__).resolve().parents[2] / "app" / "web" / "static"


def feed_path(user) -> str:
    return f"/calendar/{secret_of(ensure_feed(user))}.ics"


def parse(body: bytes) -> dict[str, dict]:
    """The feed read by icalendar and by ics (an independent parser): uid -> fields. Both must agree."""
    cal = Calendar.from_ical(body)
    assert str(cal["VERSION"]) == "2.0" and "Canvas Flow" in str(cal["PRODID"])
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in body
    events = {}
    for ev in cal.walk("VEVENT"):
        cats = ev.get("CATEGORIES")
        events[str(ev["UID"])] = {
            "summary": str(ev["SUMMARY"]), "start": ev.decoded("DTSTART"), "end": ev.decoded("DTEND"),
            "description": str(ev.get("DESCRIPTION", "")), "url": str(ev["URL"]) if "URL" in ev else None,
            "categories": [str(c) for c in cats.cats] if cats else [],
            "dtstamp": ev.decoded("DTSTAMP"), "last_modified": ev.decoded("LAST-MODIFIED"),
        }
    other = ics.Calendar(body.decode("utf-8"))
    assert {e.uid: (e.name, e.begin.datetime, e.end.datetime) for e in other.events} == {
        uid: (e["summary"], e["start"], e["end"]) for uid, e in events.items()}
    return events


def sandbox_deadlines(sb) -> dict[str, str]:
    """uid -> name for every published assignment with a due date in the sandbox user's courses."""
    d = sb.data
    return {f"canvas-course-{cid}-assignment-{a['id']}@canvasflow": a["name"]
            for cid in sorted(d.enrolled) for a in d.course_assignments(cid) if a["due_at"] and a["published"]}


# --- Contents -----------------------------------------------------------------------------

def test_feed_holds_exactly_the_users_synced_deadlines_and_nothing_secret(app, client, canvas_sandbox):
    user = make_canvas_user(canvas_sandbox)
    assert fast_service(user).sync_all_data().ok
    other = make_user("other@example.edu", canvas=True)
    theirs = add_course(other, "Someone Else's Seminar")
    add_assignment(theirs, "Their private essay", due_in=timedelta(days=2),
                   html_url="https://canvas.example.edu/courses/1/assignments/2")
    db.session.commit()

    path = feed_path(user)
    response = client.get(path)  # no session
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    body = response.get_data()
    events = parse(body)
    expected = sandbox_deadlines(canvas_sandbox)
    assert len(expected) > 20
    assert {uid: e["summary"] for uid, e in events.items()} == expected  # the sandbox user teaches: no marks

    d = canvas_sandbox.data
    for cid in d.enrolled:
        for a in d.course_assignments(cid):
            uid = f"canvas-course-{cid}-assignment-{a['id']}@canvasflow"
            if uid not in events:
                continue
            e = events[uid]
            due = datetime.fromisoformat(a["due_at"].replace("Z", "+00:00"))
            assert e["start"] == e["end"] == due
            assert e["url"] == f"{canvas_sandbox.base_url}/courses/{cid}/assignments/{a['id']}"
            assert d.courses[cid]["name"] in e["categories"] and "Canvas" in e["categories"]
            assert f"Course: {d.courses[cid]['name']}" in e["description"]

    text = body.decode()
    assert "Their private essay" not in text and "Someone Else" not in text
    for secret in (canvas_sandbox.token, user.canvas_token, user.canvas_token_encrypted, path[10:-4],
                   ensure_feed(user).secret_hash, user.email, other.email):
        assert secret not in text
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_submitted_work_is_marked_and_hidden_rows_left_out(app, client):
    user = make_user(canvas=True, canvas_user_id=ME)
    bio = add_course(user, "Biology 101", course_code="BIO101")
    handed_in = add_assignment(bio, "Essay on cells", due_in=timedelta(days=2), points=25,
                               html_url="https://canvas.example.edu/courses/9/assignments/1")
    add_submission(handed_in, ME, submitted_at=now(), workflow_state="submitted")
    graded = add_assignment(bio, "Quiz 3", due_in=timedelta(days=-3))
    add_submission(graded, ME, score=8.5, graded_at=now())
    todo = add_assignment(bio, "Lab report", due_in=timedelta(days=5), html_url="javascript:alert(1)")
    add_submission(todo, ME)
    add_assignment(bio, "No due date")
    add_assignment(bio, "Deleted one", due_in=timedelta(days=1), deleted_at=now())
    add_assignment(bio, "Unpublished draft", due_in=timedelta(days=1), published=False)
    gone = add_course(user, "Dropped course", deleted_at=now())
    add_assignment(gone, "From a deleted course", due_in=timedelta(days=1))
    db.session.commit()

    events = {e["summary"]: e for e in parse(client.get(feed_path(user)).get_data()).values()}
    assert set(events) == {"\u2713 Essay on cells", "\u2713 Quiz 3", "Lab report"}
    essay = events["\u2713 Essay on cells"]
    assert essay["categories"] == ["Biology 101", "Canvas", "Submitted"]
    assert "Course: Biology 101 (BIO101)" in essay["description"] and "Worth: 25 points" in essay["description"]
    assert "Your work: Submitted" in essay["description"]
    assert essay["url"] == "https://canvas.example.edu/courses/9/assignments/1"
    assert essay["last_modified"] == essay["dtstamp"]
    assert events["\u2713 Quiz 3"]["categories"][-1] == "Graded"
    assert "8.5" not in events["\u2713 Quiz 3"]["description"]  # no scores in someone's calendar
    assert events["Lab report"]["url"] is None  # only http(s) links
    assert "javascript" not in events["Lab report"]["description"]
    assert "Your work" not in events["Lab report"]["description"]


def test_uids_stay_the_same_across_resyncs(app, client, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    path = feed_path(user)
    first = client.get(path)
    before = parse(first.get_data())

    assert fast_service(user).sync_all_data().ok  # a second full sync
    again = client.get(path)
    assert again.get_data() == first.get_data() and again.headers["ETag"] == first.headers["ETag"]

    changed = next(uid for uid in before)
    cid, aid = (int(n) for n in re.findall(r"\d+", changed))
    time.sleep(1.1)  # Canvas times have whole seconds; incremental filters are strictly-after
    sb.update_assignment(aid, name="Renamed deadline")
    assert fast_service(user).sync_all_data(use_incremental=True).ok
    after = parse(client.get(path).get_data())
    assert set(after) == set(before)  # updated in place, not duplicated
    assert after[changed]["summary"] == "Renamed deadline"

    # Even rows recreated from scratch (new local ids) give the same UIDs.
    db.session.execute(Assignment.__table__.delete())
    db.session.commit()
    assert fast_service(user).sync_all_data(use_incremental=False).ok
    assert set(parse(client.get(path).get_data())) == set(before)


def test_feed_does_a_fixed_number_of_queries(app, client):
    user = make_user(canvas=True, canvas_user_id=ME)

    def fill(courses: int) -> None:
        for i in range(courses):
            course = add_course(user, f"Course {i:03d}")
            for j in range(3):
                add_submission(add_assignment(course, f"Task {j}", due_in=timedelta(days=j + 1)), ME,
                               submitted_at=now(), workflow_state="submitted")
        db.session.commit()

    def count(path: str) -> int:
        statements = []
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    path = feed_path(user)
    fill(2)
    few = count(path)
    fill(30)
    many = count(path)
    assert many == few <= 8, f"{few} queries for 2 courses, {many} for 32 (N+1)"
    assert client.get(path).get_data().count(b"BEGIN:VEVENT") == 96


# --- HTTP caching ---------------------------------------------------------------------------

def test_conditional_requests_get_304_until_the_feed_changes(app, client):
    user = make_user(canvas=True)
    course = add_course(user, "History")
    add_assignment(course, "Source analysis", due_in=timedelta(days=3))
    gone = add_assignment(course, "Timeline", due_in=timedelta(days=4))
    db.session.commit()
    path = feed_path(user)

    first = client.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    by_etag = client.get(path, headers={"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.get_data() == b""
    assert by_etag.headers["ETag"] == etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200

    # A deletion leaves no newer timestamp in the data, yet both validators see it.
    gone.deleted_at = now()
    db.session.commit()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and b"Timeline" not in changed.get_data()
    assert changed.headers["ETag"] != etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 200
    assert changed.headers["Last-Modified"] != modified
    later = format_datetime(datetime.now(timezone.utc) + timedelta(minutes=5), usegmt=True)
    assert client.get(path, headers={"If-Modified-Since": later}).status_code == 304


# --- Secrets --------------------------------------------------------------------------------

def test_unknown_or_malformed_secret_answers_404(app, client):
    user = make_user()
    ensure_feed(user)
    for path in ("/calendar/not-a-real-secret.ics", f"/calendar/{'x' * 500}.ics", "/calendar/.ics",
                 f"/calendar/{ensure_feed(user).secret_hash}.ics"):  # the stored hash is not the secret
        assert client.get(path).status_code == 404, path


def test_secret_is_stored_hashed_and_encrypted_only(app):
    user = make_user()
    feed = ensure_feed(user)
    secret = secret_of(feed)
    assert len(secret) >= 43
    row = db.session.execute(select(CalendarFeed.__table__)).one()
    assert secret not in str(tuple(row))
    assert row.secret_hash == hash_secret(secret)
    assert ensure_feed(user).id == feed.id  # one feed per user


def test_settings_shows_the_url_with_a_copy_button_and_regenerating_kills_the_old_one(app, client):
    user = make_user()
    course = add_course(user, "Chemistry")
    add_assignment(course, "Titration lab", due_in=timedelta(days=1))
    db.session.commit()
    login(client, user.email)
    page = client.get("/settings/").get_data(as_text=True)
    old_url = URL_RE.search(page).group(1)
    assert old_url.startswith("http://localhost/calendar/") and old_url.endswith(".ics")
    assert 'data-copy-target="calendar-feed-url"' in page and 'id="calendar-copy"' in page
    assert '<script src="/static/copy.js"' in page and "<script>" not in page
    old_path = old_url.removeprefix("http://localhost")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert b"Titration lab" in client.get(old_path).get_data()  # works with no session

    login(client, user.email)
    refused = client.post("/settings/calendar/regenerate", data={})  # no CSRF token
    assert refused.status_code == 400
    assert client.get(old_path).status_code == 200
    response = post(client, "/settings/calendar/regenerate", {"confirm": "yes"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/#calendar-feed")
    page = client.get("/settings/").get_data(as_text=True)
    new_url = URL_RE.search(page).group(1)
    assert new_url != old_url and "new address" in page
    assert client.get(old_path).status_code == 404
    assert b"Titration lab" in client.get(new_url.removeprefix("http://localhost")).get_data()

    assert post(client, "/settings/calendar/off", {"confirm": "yes"}).status_code == 302
    page = client.get("/settings/").get_data(as_text=True)
    assert 'id="calendar-off"' in page and not URL_RE.search(page)
    assert client.get(new_url.removeprefix("http://localhost")).status_code == 404
    post(client, "/settings/calendar/regenerate", {"confirm": "yes"})  # a turned-off feed can be turned on with a new address
    third = URL_RE.search(client.get("/settings/").get_data(as_text=True)).group(1)
    assert third not in (old_url, new_url)
    assert client.get(third.removeprefix("http://localhost")).status_code == 200


def test_one_user_cannot_regenerate_or_see_anothers_feed(app, client):
    alice, bob = make_user("alice@example.edu"), make_user("bob@example.edu")
    bob_path = feed_path(bob)
    login(client, alice.email)
    assert bob_path not in client.get("/settings/").get_data(as_text=True)
    post(client, "/settings/calendar/regenerate", {"confirm": "yes"})  # regenerates Alice's only
    assert client.get(bob_path).status_code == 200


def test_copy_script_copies_the_named_input(app, client):
    script = (STATIC / "copy.js").read_text()
    assert "data-copy-target" in script and "navigator.clipboard" in script and 'execCommand("copy")' in script
    assert client.get("/static/copy.js").status_code == 200


# --- Changes, reminders, subscribe link --------------------------------------------------

def test_a_changed_due_date_bumps_sequence_and_last_modified(app, client, canvas_sandbox):
    sb = canvas_sandbox
    user = make_canvas_user(sb)
    assert fast_service(user).sync_all_data().ok
    a = next(a for c in sorted(sb.data.enrolled) for a in sb.data.course_assignments(c)
             if a["published"] and a["due_at"])
    uid = f"canvas-course-{a['course_id']}-assignment-{a['id']}@canvasflow"

    def event(body: bytes):
        ev = next(e for e in Calendar.from_ical(body).walk("VEVENT") if str(e["UID"]) == uid)
        other = next(e for e in ics.Calendar(body.decode("utf-8")).events if e.uid == uid)
        return int(ev["SEQUENCE"]), ev.decoded("LAST-MODIFIED"), ev.decoded("DTSTART"), other

    before = event(client.get(feed_path(user)).data)
    new_due = datetime.fromisoformat(a["due_at"].replace("Z", "+00:00")) + timedelta(days=2)
    sb.update_assignment(a["id"], due_at=new_due.isoformat().replace("+00:00", "Z"))
    assert fast_service(db.session.get(type(user), user.id)).sync_all_data(use_incremental=True).ok
    after = event(client.get(feed_path(user)).data)
    assert after[0] > before[0] and after[1] > before[1] and after[2] == new_due
    assert after[3].begin.datetime == new_due != before[3].begin.datetime  # ics reads the same event, moved
    # ics 0.7 keeps SEQUENCE among the lines it does not model: read it from there
    assert [int(line.value) for line in after[3].extra if line.name == "SEQUENCE"] == [after[0]]
    assert [int(line.value) for line in before[3].extra if line.name == "SEQUENCE"] == [before[0]]


def test_reminders_follow_the_users_choice_and_descriptions_use_their_zone(app, client):
    user = make_user("alarm@example.edu")
    user.time_zone, user.clock_24h = "America/Denver", False
    course = add_course(user, "Alarm course")
    due = datetime(2031, 3, 4, 1, 30, tzinfo=timezone.utc)  # 6:30 pm on 3 March in Denver
    a = add_assignment(course, "Alarm essay")
    a.due_at = due
    db.session.commit()
    body = client.get(feed_path(user)).data
    assert b"BEGIN:VALARM" not in body
    description = str(next(iter(Calendar.from_ical(body).walk("VEVENT")))["DESCRIPTION"])
    assert description.startswith("Due: Mon 03 Mar 2031, 6:30 pm MST\n")
    user.feed_alarm_minutes = 60
    db.session.commit()
    body = client.get(feed_path(user)).data
    ev = next(iter(Calendar.from_ical(body).walk("VEVENT")))
    alarm = next(iter(ev.walk("VALARM")))
    assert alarm.decoded("TRIGGER") == -timedelta(hours=1) and str(alarm["ACTION"]) == "DISPLAY"
    assert next(iter(ics.Calendar(body.decode()).events)).alarms[0].trigger == -timedelta(hours=1)


def test_settings_offer_a_webcal_link_beside_the_https_one(app, client):
    user = make_user("webcal@example.edu")
    login(client, user.email)
    page = client.get("/settings/").get_data(as_text=True)
    https = URL_RE.search(page).group(1)
    webcal = re.search(r'href="(webcal://[^"]+)" id="calendar-webcal"', page).group(1)
    assert webcal == "webcal://" + https.split("://", 1)[1]
