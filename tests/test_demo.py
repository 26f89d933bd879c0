"""`python run.py --demo` fills the demo user's planner from the sandbox before serving."""
from sqlalchemy import func, select

from app.demo import start_demo
from app.extensions import db
from app.models import Assignment, User
from tests.conftest import make_test_app


def test_demo_seeds_a_user_and_runs_a_first_sync(tmp_path, capsys):
    from flask_migrate import upgrade

    app = make_test_app(f"sqlite:///{tmp_path / 'demo.db'}", DEMO_SANDBOX_PORT=0)
    with app.app_context():
        upgrade()
    sandbox = start_demo(app)
    try:
        out = capsys.readouterr().out
        assert f"Demo login: {app.config['DEMO_EMAIL']} / {app.config['DEMO_PASSWORD']}" in out
        assert "first sync: full sync succeeded" in out
        with app.app_context():
            user = db.session.scalar(select(User))
            assert user.canvas_base_url == sandbox.base_url and user.check_password(app.config["DEMO_PASSWORD"])
            assert db.session.scalar(select(func.count()).select_from(Assignment)) > 0
            client = app.test_client()
            login = client.get("/login")
            assert login.status_code == 200
        # A second start (the next `make demo`) reuses the user and syncs incrementally.
        sandbox.stop()
        sandbox = start_demo(app)
        assert "first sync: incremental sync succeeded" in capsys.readouterr().out
    finally:
        sandbox.stop()
