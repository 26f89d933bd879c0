"""`flask canvas sync` and `flask sandbox canvas` through the CLI runner, against the sandbox."""
from sqlalchemy import func, select

from app.extensions import db
from app.models import Course, SyncRun, User
from tests.helpers import make_canvas_user


def test_sync_prints_progress_and_summary(cli, canvas_sandbox):
    make_canvas_user(canvas_sandbox, email="cli@example.com")
    result = cli.invoke(args=["canvas", "sync", "--email", "cli@example.com"])
    assert result.exit_code == 0, result.output
    courses = len(canvas_sandbox.data.enrolled)
    assert f"[{courses}/{courses}]" in result.output
    assert "full sync succeeded" in result.output
    assert db.session.scalar(select(func.count()).select_from(Course)) == courses

    again = cli.invoke(args=["canvas", "sync", "--email", "cli@example.com", "--incremental"])
    assert again.exit_code == 0, again.output
    assert "incremental sync succeeded" in again.output


def test_sync_one_course(cli, canvas_sandbox):
    make_canvas_user(canvas_sandbox, email="cli@example.com")
    course = sorted(canvas_sandbox.data.enrolled)[0]
    result = cli.invoke(args=["canvas", "sync", "--email", "cli@example.com", "--course", str(course)])
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(Course.canvas_course_id)).all() == [course]


def test_expired_token_is_one_plain_line_and_exit_1(cli, canvas_sandbox):
    make_canvas_user(canvas_sandbox, email="cli@example.com", token=canvas_sandbox.expired_token)
    result = cli.invoke(args=["canvas", "sync", "--email", "cli@example.com"])
    assert result.exit_code == 1
    assert ("Canvas rejected the access token (expired). Update it with: flask --app run users set-canvas "
            "--email cli@example.com") in result.output
    assert "Traceback" not in result.output
    assert canvas_sandbox.expired_token not in result.output
    assert db.session.scalar(select(SyncRun.status)) == SyncRun.FAILED


def test_user_without_canvas_is_told_how_to_connect(cli):
    cli.invoke(args=["users", "create", "--email", "nocanvas@example.com", "--password", "pw-123456"])
    result = cli.invoke(args=["canvas", "sync", "--email", "nocanvas@example.com"])
    assert result.exit_code != 0
    assert "Connect your Canvas account first" in result.output


def test_sandbox_command_forwards_options(cli):
    result = cli.invoke(args=["sandbox", "canvas", "--help"])
    assert "--latency-ms" in result.output and "--faults" in result.output


def test_sync_all_in_process_syncs_every_connected_user(cli, canvas_sandbox):
    users = [make_canvas_user(canvas_sandbox, email=f"all{i}@example.com") for i in range(2)]
    db.session.add(User(email="unconnected@example.com", password_hash="x"))
    db.session.commit()
    result = cli.invoke(args=["canvas", "sync", "--all"])
    assert result.exit_code == 0, result.output
    for user in users:
        db.session.refresh(user)
        assert user.last_synced_canvas is not None
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 2


def test_sync_all_with_queue_only_queues_and_a_worker_runs_it(cli, canvas_sandbox):
    user = make_canvas_user(canvas_sandbox, email="queued@example.com")
    result = cli.invoke(args=["canvas", "sync", "--all", "--queue", "--incremental"])
    assert result.exit_code == 0, result.output
    assert "queued@example.com: queued" in result.output
    run = db.session.scalar(select(SyncRun).where(SyncRun.user_id == user.id))
    assert run.status == SyncRun.QUEUED and run.trigger == "cli"
    run_id, email = run.id, user.email
    again = cli.invoke(args=["canvas", "sync", "--email", email, "--queue"])
    assert "joined the sync already under way" in again.output
    worked = cli.invoke(args=["queue", "work", "--burst"])
    assert worked.exit_code == 0 and "ran 1 operation" in worked.output, worked.output
    assert db.session.get(SyncRun, run_id).status == SyncRun.SUCCEEDED  # the worker's session was removed


def test_sync_needs_one_of_email_or_all(cli):
    assert cli.invoke(args=["canvas", "sync"]).exit_code == 2
    assert cli.invoke(args=["canvas", "sync", "--all", "--course", "3"]).exit_code == 2
