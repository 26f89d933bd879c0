from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import User

TOKEN = "7~SuperSecretCanvasTokenValue1234abcd"


def test_create_user_stores_token_encrypted(cli, app):
    result = cli.invoke(args=["users", "create", "--email", "Ana@Example.com", "--password", "pw-123456",
                              "--canvas-url", "https://school.instructure.com/", "--canvas-token", TOKEN])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ana@example.com"))
    assert user.canvas_base_url == "https://school.instructure.com"
    assert user.canvas_token == TOKEN
    stored = db.session.execute(select(User.canvas_token_encrypted)).scalar()
    assert TOKEN not in stored and "abcd" not in stored
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        db.session.remove()
        for path in Path(url.database).parent.glob("canvasflow.db*"):  # the file and its WAL
            assert TOKEN.encode() not in path.read_bytes()


def test_list_never_prints_the_token(cli):
    cli.invoke(args=["users", "create", "--email", "a@example.com", "--password", "pw-123456", "--admin",
                     "--canvas-url", "https://c.example.com", "--canvas-token", TOKEN])
    cli.invoke(args=["users", "create", "--email", "b@example.com", "--password", "pw-123456"])
    result = cli.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert "a@example.com" in result.output and "b@example.com" in result.output
    assert "admin" in result.output
    assert "...abcd" in result.output
    assert TOKEN not in result.output and "SuperSecret" not in result.output


def test_set_canvas_replaces_the_token(cli):
    cli.invoke(args=["users", "create", "--email", "c@example.com", "--password", "pw-123456"])
    result = cli.invoke(args=["users", "set-canvas", "--email", "c@example.com",
                              "--canvas-url", "https://x.example.com", "--canvas-token", "new-token-9999"])
    assert result.exit_code == 0, result.output
    assert "new-token-9999" not in result.output
    assert db.session.scalar(select(User).where(User.email == "c@example.com")).canvas_token == "new-token-9999"


def test_set_canvas_unknown_user_is_a_plain_error(cli):
    result = cli.invoke(args=["users", "set-canvas", "--email", "nobody@example.com",
                              "--canvas-url", "https://x", "--canvas-token", "t"])
    assert result.exit_code != 0
    assert "No user with email nobody@example.com" in result.output


def test_duplicate_email_refused(cli):
    cli.invoke(args=["users", "create", "--email", "d@example.com", "--password", "pw-123456"])
    result = cli.invoke(args=["users", "create", "--email", "D@example.com", "--password", "pw-123456"])
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_create_asks_for_the_password_at_a_prompt(cli, app):
    result = cli.invoke(args=["users", "create", "--email", "prompted@example.com"],
                        input="pw-prompted-1\npw-prompted-1\n")
    assert result.exit_code == 0, result.output
    assert "pw-prompted-1" not in result.output  # hidden input is not echoed
    user = db.session.scalar(select(User).where(User.email == "prompted@example.com"))
    assert user.check_password("pw-prompted-1")


def test_create_prompt_rejects_a_mistyped_confirmation(cli, app):
    result = cli.invoke(args=["users", "create", "--email", "typo@example.com"], input="one-pass\nother-pass\n")
    assert result.exit_code != 0
    assert db.session.scalar(select(User).where(User.email == "typo@example.com")) is None
