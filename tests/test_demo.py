"""`python run.py --demo` fills the demo user's planner from the sandbox and shows the hub before serving."""
from sqlalchemy import func, select

from app.demo import start_demo
from app.extensions import db
from app.models import Assignment, DiscussionTopic, User
from tests.conftest import make_test_app
from tests.fixtures.browser import browser, page  # noqa: F401 (fixtures)
from tests.web.conftest import login


def test_demo_seeds_a_user_and_runs_a_first_sync(tmp_path, capsys):
    from flask_migrate import upgrade

    app = make_test_app(f"sqlite:///{tmp_path / 'demo.db'}", DEMO_SANDBOX_PORT=0, DEMO_DISCOURSE_PORT=0)
    with app.app_context():
        upgrade()
    demo = start_demo(app)
    try:
        out = capsys.readouterr().out
        assert f"Demo login: {app.config['DEMO_EMAIL']} / {app.config['DEMO_PASSWORD']}" in out
        assert f"Student login: {app.config['DEMO_STUDENT_EMAIL']} / {app.config['DEMO_STUDENT_PASSWORD']}" in out
        assert "first sync: full sync succeeded" in out
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == app.config["DEMO_EMAIL"]))
            assert user.canvas_base_url == demo.canvas.base_url and user.check_password(app.config["DEMO_PASSWORD"])
            assert db.session.scalar(select(func.count()).select_from(Assignment)) > 0
            origins = set(db.session.scalars(select(DiscussionTopic.origin_system)))
            assert origins == {"canvas", "discourse"}  # a thread written on both sides
            client = app.test_client()
            login(client, user.email, app.config["DEMO_PASSWORD"])
            page = client.get(f"/courses/{demo.course_id}/discussions").get_data(as_text=True)
            assert "Welcome: introduce yourself" in page
            forum_titles = [t.title for t in demo.discourse.forum.topics.values()]
            assert "Welcome: introduce yourself" in forum_titles  # delivered to Discourse
            assert any(title in page for title in forum_titles if title != "Welcome: introduce yourself")
        # A second start (the next `make demo`) reuses the user and syncs incrementally.
        demo.stop()
        demo = start_demo(app)
        assert "first sync: incremental sync succeeded" in capsys.readouterr().out
    finally:
        demo.stop()


def _until(check, what: str, deadline_s: float = 60.0, step_s: float = 0.2):
    """Poll `check` until it returns something truthy. The demo pulls every 3 s, so each step
    takes seconds (under 10 s on an idle machine); the bound is wide so load cannot fail it."""
    import time

    deadline = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(step_s)


def test_demo_discussions_in_chromium_reach_both_sides_and_back(tmp_path, page):
    """The demo's setup served on an ephemeral port, its scheduler and workers running: the page shows
    both sides' topics; a reply posted there reaches the sandbox Canvas and Discourse, and a reply
    written in Discourse shows on the page, each within seconds."""
    from flask_migrate import upgrade

    from app.sync.scheduler import start_scheduler
    from tests.helpers import serving

    app = make_test_app(f"sqlite:///{tmp_path / 'demo.db'}", DEMO_SANDBOX_PORT=0, DEMO_DISCOURSE_PORT=0,
                        SYNC_SCHEDULE_ENABLED=True)
    with app.app_context():
        upgrade()
    demo = start_demo(app)
    scheduler = start_scheduler(app)
    try:
        with serving(app, "demo-browser-server") as base:
            page.goto(f"{base}/login")
            page.fill("input[name=email]", app.config["DEMO_EMAIL"])
            page.fill("input[name=password]", app.config["DEMO_PASSWORD"])
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/")
            url = f"{base}/courses/{demo.course_id}/discussions"
            page.goto(url)
            forum_topic = next(t for t in demo.discourse.forum.topics.values()
                               if t.title != "Welcome: introduce yourself")
            assert page.locator("h2", has_text="Welcome: introduce yourself").count() == 1
            assert page.locator("h2", has_text=forum_topic.title).count() == 1

            text = "Posted from the Discussions page in Chromium"
            welcome = page.locator("article.topic", has=page.locator("h2", has_text="Welcome: introduce yourself"))
            welcome.locator("form[action$='/replies'] textarea[name=body]").fill(text)
            welcome.locator("form[action$='/replies'] [type=submit]").click()
            page.wait_for_load_state()

            def in_canvas():
                return any(text in (e.get("message") or "") for e in demo.canvas.data.entries.values())

            def in_discourse():
                return any(text in (p.raw or "") for p in list(demo.discourse.forum.posts.values()))

            _until(in_canvas, "the page's reply in the sandbox Canvas")
            _until(in_discourse, "the page's reply in the sandbox Discourse")

            answer = "Written in Discourse, shown in Canvas Flow"
            demo.discourse.reply("bob", forum_topic.id, answer)

            def on_page():
                page.goto(url)
                return page.locator("div.body", has_text=answer).count() == 1

            _until(on_page, "the Discourse reply on the Discussions page", step_s=0.5)
    finally:
        scheduler.shutdown(wait=False)
        demo.stop()
