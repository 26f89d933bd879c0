"""`flask hub link/links/unlink/run --once` and `flask scheduler` with schedules off, run as an operator would."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Course, HubCourseLink, User
from app.sync.hub import Hub
from app.sync.scheduler import PERIODIC_JOBS, SCHEDULED_SYNCS
from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 (fixture)
from tests.web.hub_env import CATEGORY, hub_env  # noqa: F401 (fixture)


def test_link_links_and_unlink_a_course(cli, hub_env):
    env = hub_env
    listed = cli.invoke(args=["hub", "links"])
    assert listed.exit_code == 0
    assert f"course {env.course_id} (Biology): discourse {CATEGORY}" in listed.output
    assert f"course {env.course_id} (Biology): canvas {env.canvas_course}" in listed.output

    unlinked = cli.invoke(args=["hub", "unlink", "--course", str(env.course_id)])
    assert unlinked.exit_code == 0 and "unlinked from canvas, discourse" in unlinked.output
    assert cli.invoke(args=["hub", "links"]).output.strip() == "No course is linked."
    again = cli.invoke(args=["hub", "unlink", "--course", str(env.course_id)])
    assert again.exit_code != 0 and f"Course {env.course_id} is not linked." in again.output

    linked = cli.invoke(args=["hub", "link", "--course", str(env.course_id), "--category", "7"])
    assert linked.exit_code == 0, linked.output
    assert f"Course {env.course_id} linked to Discourse category 7" in linked.output
    assert f"course {env.course_id} (Biology): discourse 7" in cli.invoke(args=["hub", "links"]).output
    missing = cli.invoke(args=["hub", "link", "--course", "9999", "--category", "7"])
    assert missing.exit_code != 0 and "That course does not exist." in missing.output


def test_link_is_refused_when_discourse_is_not_set_up(cli, app):
    user = User(email="cli-owner@example.edu", password_hash="x")
    db.session.add(user)
    db.session.flush()
    course = Course(user_id=user.id, canvas_course_id=77, name="Art")
    db.session.add(course)
    db.session.commit()
    refused = cli.invoke(args=["hub", "link", "--course", str(course.id), "--category", "2"])
    assert refused.exit_code != 0
    assert "Not linked: Discourse is not set up: set DISCOURSE_URL and DISCOURSE_API_KEY." in refused.output
    assert db.session.scalar(select(func.count()).select_from(HubCourseLink)) == 0


def test_run_once_pulls_delivers_and_fails_with_the_reasons(cli, hub_env):
    env = hub_env
    env.canvas.create_topic(env.canvas_course, "Osmosis lab questions", "<p>Ask about the lab here.</p>")
    ran = cli.invoke(args=["hub", "run", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "pulled canvas" in ran.output and "pulled discourse" in ran.output
    assert any(t.title == "Osmosis lab questions" for t in env.discourse.forum.topics.values())
    discourse_topic = next(t for t in env.discourse.forum.topics.values() if t.category_id == CATEGORY
                           and t.title != "Osmosis lab questions")
    assert any(t["title"] == discourse_topic.title for t in env.canvas.data.topics.values())

    # Discourse goes away and a reply is written here: the run says what failed, and exits 1.
    env.discourse.stop()
    hub = Hub.from_app(db.session)
    try:
        [first] = [t for t in hub.course_thread(env.course_id) if t.title == "Osmosis lab questions"]
        hub.post_reply(first.id, "<p>Written while Discourse is down.</p>", author_name="teacher")
    finally:
        hub.close()
    failed = cli.invoke(args=["hub", "run", "--once"])
    assert failed.exit_code == 1, failed.output
    assert "pull discourse:" in failed.output
    assert "deliver discussion_post" in failed.output and "to discourse:" in failed.output


def test_scheduler_command_runs_without_scheduled_syncs_and_says_so(cli, app, monkeypatch):
    started = {}

    def fake_start(app_, *, blocking, jobs):
        started.update(blocking=blocking, jobs=[job.name for job in jobs])

    monkeypatch.setitem(app.config, "SYNC_SCHEDULE_ENABLED", False)
    monkeypatch.setattr("app.sync.scheduler.start_scheduler", fake_start)
    answer = cli.invoke(args=["scheduler"])
    assert answer.exit_code == 0, answer.output
    assert "Scheduled syncs are off (SYNC_SCHEDULE_ENABLED=false)" in answer.output
    assert started["blocking"] is True
    assert started["jobs"] == [job.name for job in PERIODIC_JOBS if job.name not in SCHEDULED_SYNCS]
    assert "hub_pulls" in started["jobs"] and "canvas_syncs" not in started["jobs"]
