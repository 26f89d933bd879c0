"""Classroom usage by date: bounded windows from the last stored as-of date, on every database backend."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ClassroomUsage, User
from app.sync.sources.classroom_usage import ClassroomUsageSync, UsageSettings, usage_row
from app.sync.errors import PermanentError
from tests.fixtures.classroom import classroom_client

START = date(2026, 8, 24)          # the school year's first day
TODAY = START + timedelta(days=60)  # 2026-10-23; with a one-day lag Google has data through 10-22


def make_user(email="admin@school.example") -> User:
    user = User(email=email)
    user.set_password("password-123")
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def usage_sandbox(make_classroom_sandbox):
    return make_classroom_sandbox(today=TODAY, usage_lag_days=1, usage_users=3)


def usage_sync(sb, session, user, today=TODAY, window_days=7, **settings) -> ClassroomUsageSync:
    return ClassroomUsageSync(db.session, classroom_client(sb, session), user.id,
                              UsageSettings(START, window_days, **settings), today=today)


def requested_dates(sb) -> list[date]:
    return [date.fromisoformat(e.path.rsplit("/", 1)[1]) for e in sb.requests("/admin/reports/v1/usage/")]


def stored(user) -> dict[date, int]:
    rows = db.session.execute(select(ClassroomUsage.as_of_date, func.count()).where(ClassroomUsage.user_id == user.id)
                              .group_by(ClassroomUsage.as_of_date)).all()
    return {day: n for day, n in rows}


def test_a_60_day_gap_is_caught_up_in_windows_of_the_configured_size(app, usage_sandbox, classroom_session):
    sb, user = usage_sandbox, make_user()
    sync = usage_sync(sb, classroom_session, user)
    assert len(sync.windows()) == 9  # 61 dates (start..today) in windows of 7

    first = sync.run(max_windows=2)  # a bounded pull: two windows, then stop
    assert [(w.start, w.end) for w in first.windows] == [(START, START + timedelta(days=6)),
                                                         (START + timedelta(days=7), START + timedelta(days=13))]
    assert requested_dates(sb) == [START + timedelta(days=i) for i in range(14)] and not first.caught_up
    assert stored(user) == {START + timedelta(days=i): 3 for i in range(14)}

    sb.clear_log()
    rest = usage_sync(sb, classroom_session, user).run()
    assert rest.caught_up and all(len(w.dates) <= 7 for w in rest.windows)
    assert [len(w.dates) for w in rest.windows] == [7] * 6 + [4]
    # The day after the last stored date, one request per date, in order; TODAY has no data yet.
    assert requested_dates(sb) == [START + timedelta(days=i) for i in range(14, 61)]
    assert sb.requests("/usage/")[-1].status == 400 and rest.windows[-1].not_yet_available == TODAY
    assert stored(user) == {START + timedelta(days=i): 3 for i in range(60)}


def test_a_second_run_fetches_only_new_dates(app, usage_sandbox, classroom_session):
    sb, user = usage_sandbox, make_user()
    usage_sync(sb, classroom_session, user).run()
    sb.mutate("advance_days", days=3)
    sb.clear_log()
    run = usage_sync(sb, classroom_session, user, today=TODAY + timedelta(days=3)).run()
    assert requested_dates(sb) == [TODAY + timedelta(days=i) for i in range(4)]  # 10-23..10-26, 10-26 not ready
    assert run.dates == [TODAY + timedelta(days=i) for i in range(3)]
    assert len(stored(user)) == 63
    sb.clear_log()
    assert usage_sync(sb, classroom_session, user, today=TODAY + timedelta(days=3)).run().dates == []
    assert requested_dates(sb) == [TODAY + timedelta(days=3)]


def test_an_overlap_replaces_the_old_rows(app, usage_sandbox, classroom_session):
    sb, user = usage_sandbox, make_user()
    sync = usage_sync(sb, classroom_session, user, end_date=START + timedelta(days=9))
    assert sync.run().caught_up and len(stored(user)) == 10
    day = START + timedelta(days=3)
    email = sb.data.usage_emails[1]
    before = db.session.scalars(select(ClassroomUsage).where(ClassroomUsage.as_of_date == day,
                                                             ClassroomUsage.user_email == email)).one()
    imported_before = before.imported_at
    sb.mutate("set_usage", date=day.isoformat(), email=email, **{"classroom:num_posts_created": 41})
    db.session.expire_all()
    window = sync.pull_window(day - timedelta(days=1), day + timedelta(days=1))
    assert window.dates == [day - timedelta(days=1), day, day + timedelta(days=1)] and window.rows == 9
    assert len(stored(user)) == 10 and set(stored(user).values()) == {3}
    after = db.session.scalars(select(ClassroomUsage).where(ClassroomUsage.as_of_date == day,
                                                            ClassroomUsage.user_email == email)).one()
    assert after.posts_created == 41 and after.imported_at >= imported_before
    assert after.as_of_date == day and after.imported_at.date() != day  # the as-of date is not the import time
    assert '"classroom:num_posts_created"' in after.raw_json


def test_rows_are_typed_and_kept_per_user(app, usage_sandbox, classroom_session):
    sb = usage_sandbox
    alice, bob = make_user("alice@school.example"), make_user("bob@school.example")
    usage_sync(sb, classroom_session, alice, end_date=START + timedelta(days=1)).run()
    assert stored(bob) == {}
    assert usage_sync(sb, classroom_session, bob).span() == (START, TODAY)
    row = db.session.scalars(select(ClassroomUsage).where(ClassroomUsage.user_id == alice.id)
                             .order_by(ClassroomUsage.user_email, ClassroomUsage.as_of_date)).first()
    report = next(r for r in sb.data.usage_reports(START) if r["email"] == row.user_email)
    assert row.role == report["values"]["classroom:role"]
    assert row.posts_created == report["values"]["classroom:num_posts_created"]
    assert row.last_interaction_at == datetime.fromtimestamp(
        report["values"]["classroom:timestamp_last_interaction"] / 1_000_000, timezone.utc)
    assert row.last_login_at is not None and row.customer_id and row.profile_id


def test_a_bad_token_stores_nothing_and_says_so(app, usage_sandbox, classroom_session):
    user = make_user()
    sync = ClassroomUsageSync(db.session, classroom_client(usage_sandbox, classroom_session, token="stale"), user.id,
                              UsageSettings(START, 7), today=TODAY)
    with pytest.raises(PermanentError, match="Google Classroom rejected the access token"):
        sync.run()
    assert stored(user) == {}


def test_a_token_without_admin_access_is_told_in_plain_words(app, usage_sandbox, classroom_session):
    user = make_user()
    client = classroom_client(usage_sandbox, classroom_session, token=usage_sandbox.teacher_token)
    assert list(client.iter_courses())  # Classroom itself is fine with this token
    with pytest.raises(PermanentError, match="needs a Google Workspace administrator's access"):
        ClassroomUsageSync(db.session, client, user.id, UsageSettings(START, 7), today=TODAY).run()
    assert stored(user) == {}


def test_the_app_config_sets_the_span(app, usage_sandbox, classroom_session, monkeypatch):
    user = make_user()
    monkeypatch.setitem(app.config, "CLASSROOM_SCHOOL_YEAR_START", START.isoformat())
    monkeypatch.setitem(app.config, "CLASSROOM_USAGE_WINDOW_DAYS", 30)
    monkeypatch.setitem(app.config, "CLASSROOM_USAGE_END_DATE", (START + timedelta(days=44)).isoformat())
    sync = ClassroomUsageSync.from_config(db.session, classroom_client(usage_sandbox, classroom_session), user.id,
                                          app.config, today=TODAY)
    assert sync.windows() == [(START, START + timedelta(days=29)), (START + timedelta(days=30),
                                                                    START + timedelta(days=44))]


def test_settings_from_config_in_plain_words():
    settings = UsageSettings.from_config({"CLASSROOM_SCHOOL_YEAR_START": "2026-08-24",
                                          "CLASSROOM_USAGE_WINDOW_DAYS": 10, "CLASSROOM_USAGE_END_DATE": ""})
    assert settings == UsageSettings(START, 10, None)
    with pytest.raises(ValueError, match="Set CLASSROOM_SCHOOL_YEAR_START"):
        UsageSettings.from_config({"CLASSROOM_SCHOOL_YEAR_START": ""})
    with pytest.raises(ValueError, match="must be a date like"):
        UsageSettings.from_config({"CLASSROOM_SCHOOL_YEAR_START": "24/08/2026"})
    with pytest.raises(ValueError, match="at least 1"):
        UsageSettings(START, 0)


def test_usage_row_reads_googles_value_kinds():
    row = usage_row({"entity": {"userEmail": "a@b.example", "profileId": "1", "customerId": "C1", "type": "USER"},
                     "parameters": [{"name": "classroom:num_posts_created", "intValue": "5"},
                                    {"name": "classroom:timestamp_last_interaction", "intValue": "1790000000000"},
                                    {"name": "accounts:last_login_time", "datetimeValue": "2026-09-01T10:00:00.000Z"},
                                    {"name": "classroom:role", "stringValue": "teacher"}]})
    assert row["posts_created"] == 5 and row["role"] == "teacher"
    assert row["last_interaction_at"] == datetime.fromtimestamp(1_790_000_000, timezone.utc)  # milliseconds
    assert row["last_login_at"] == datetime(2026, 9, 1, 10, tzinfo=timezone.utc)
    assert usage_row({"entity": {"type": "USER"}, "parameters": []}) is None
