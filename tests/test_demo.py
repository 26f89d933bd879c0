"""`python run.py --demo` fills the demo user's planner from the sandbox and shows the hub before serving."""
from sqlalchemy import func, select

from app.demo import start_demo
from app.extensions import db
from app.models import Assignment, DiscussionTopic, User
from tests.conftest import make_test_app
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
