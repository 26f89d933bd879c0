"""Styled error pages with a way back, an expired form that says so, JSON for machine endpoints."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from tests.conftest import make_test_app
from tests.web.conftest import login, make_user


def test_404_405_and_403_are_our_pages_with_a_way_back(logged_in):
    missing = logged_in.get("/no/such/page", headers={"Referer": "http://localhost/courses"})
    page = missing.get_data(as_text=True)
    assert missing.status_code == 404 and 'id="error-page"' in page and "Page not found" in page
    assert 'id="error-back"' in page and 'href="/courses"' in page
    assert 'href="/missing"' in page  # the normal navigation is there too

    wrong_method = logged_in.get("/assignments/1/done")
    assert wrong_method.status_code == 405 and "That cannot be done here" in wrong_method.get_data(as_text=True)

    admin = logged_in.get("/admin/")
    assert admin.status_code == 403 and "administrators only" in admin.get_data(as_text=True)


def test_a_foreign_referrer_is_not_the_way_back(logged_in):
    page = logged_in.get("/nope", headers={"Referer": "https://evil.example/x"}).get_data(as_text=True)
    assert "evil.example" not in page and re.search(r'id="error-back"[^>]*>|href="/" id="error-back"', page)


def test_an_expired_form_says_so_and_keeps_what_was_typed_but_no_secret(app, client):
    make_user("expired@example.edu")
    login(client, "expired@example.edu")
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/settings/", data={"base_url": "https://school.example.edu", "token": "secret-tok-1234",
                                               "csrf_token": "stale"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "This form expired" in page and "Bad Request" not in page
    assert 'name="base_url" value="https://school.example.edu"' in page
    assert "secret-tok-1234" not in page
    assert 'action="/settings/"' in page and re.search(r'name="csrf_token" value="[^"]{20,}"', page)


def test_machine_endpoints_keep_json_errors(logged_in):
    response = logged_in.get("/sync/runs/999999.json")
    assert response.status_code == 404 and response.is_json and response.get_json()["status"] == 404
    asked_for_json = logged_in.get("/no/such/page", headers={"Accept": "application/json"})
    assert asked_for_json.status_code == 404 and asked_for_json.is_json


def test_500_is_a_page_that_says_it_was_our_fault(app):
    fresh = make_test_app(app.config["SQLALCHEMY_DATABASE_URI"], PROPAGATE_EXCEPTIONS=False)

    @fresh.route("/boom-for-test")
    def boom():
        raise RuntimeError("a bug")

    with fresh.app_context():
        response = fresh.test_client().get("/boom-for-test")
        page = response.get_data(as_text=True)
        assert response.status_code == 500 and "Something went wrong on our side" in page
        assert "a bug" not in page and 'id="error-back"' in page
        db.session.remove()


@pytest.mark.parametrize("url, question", [
    ("/settings/disconnect", "Remove the Canvas token?"),
    ("/settings/calendar/regenerate", "Make a new feed address?"),
    ("/settings/calendar/off", "Turn the calendar feed off?"),
])
def test_destructive_actions_ask_first_and_act_only_when_confirmed(app, client, url, question):
    from app.models import CalendarFeed, User
    from app.web.calendar.secrets import ensure_feed
    from tests.web.conftest import post

    user = make_user("careful@example.edu", canvas=True)
    ensure_feed(user)
    db.session.commit()
    login(client, user.email)
    before = (user.canvas_token_encrypted, db.session.scalar(select(CalendarFeed.secret_hash)))
    asked = post(client, url)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and question in page and 'id="confirm-yes"' in page
    assert 'id="confirm-cancel" ' in page or 'id="confirm-cancel">' in page or "confirm-cancel" in page
    db.session.expire_all()
    assert (db.session.get(User, user.id).canvas_token_encrypted,
            db.session.scalar(select(CalendarFeed.secret_hash))) == before  # nothing happened yet
    done = post(client, url, {"confirm": "yes"})
    assert done.status_code == 302
    db.session.expire_all()
    feed = db.session.scalar(select(CalendarFeed))
    after = (db.session.get(User, user.id).canvas_token_encrypted, feed.secret_hash)
    assert after != before or feed.revoked_at is not None
