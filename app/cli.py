"""`flask --app run ...` commands: users, canvas, sandbox."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import User

users_cli = AppGroup("users", help="Create and manage users.")


def _get_user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user with email {email}. Create one with: flask users create")
    return user


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--admin", is_flag=True, help="Give the user the admin dashboard.")
@click.option("--canvas-url", default=None, help="Canvas base URL, e.g. https://school.instructure.com")
@click.option("--canvas-token", default=None, help="Canvas access token (stored encrypted).")
def create_user(email, password, admin, canvas_url, canvas_token):
    """Create a user."""
    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise click.ClickException(f"A user with email {email} already exists.")
    if bool(canvas_url) != bool(canvas_token):
        raise click.ClickException("Give --canvas-url and --canvas-token together.")
    user = User(email=email, is_admin=admin)
    user.set_password(password)
    if canvas_url:
        user.canvas_base_url = canvas_url.rstrip("/")
        user.canvas_token = canvas_token
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created user {email}" + (" (admin)" if admin else ""))


@users_cli.command("set-canvas")
@click.option("--email", required=True)
@click.option("--canvas-url", required=True)
@click.option("--canvas-token", required=True)
def set_canvas(email, canvas_url, canvas_token):
    """Set a user's Canvas URL and access token."""
    user = _get_user(email)
    user.canvas_base_url = canvas_url.rstrip("/")
    user.canvas_token = canvas_token
    db.session.commit()
    click.echo(f"Canvas connection saved for {user.email} (token ends in ...{user.canvas_token_hint})")


@users_cli.command("list")
def list_users():
    """List users (tokens are never printed)."""
    users = db.session.scalars(select(User).order_by(User.id)).all()
    if not users:
        click.echo("No users yet. Create one with: flask users create --email E --password P")
        return
    for user in users:
        canvas = f"{user.canvas_base_url} (token ...{user.canvas_token_hint})" if user.has_canvas else "not connected"
        synced = user.last_synced_canvas.isoformat(timespec="seconds") if user.last_synced_canvas else "never"
        click.echo(f"{user.id:>4}  {user.email:<32} {'admin' if user.is_admin else 'user ':<5}  canvas: {canvas}  last sync: {synced}")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
