"""`flask --app run ...` commands: users, canvas, sandbox, doctor."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
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
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked at a prompt when not given (keeps it out of shell history).")
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


canvas_cli = AppGroup("canvas", help="Sync Canvas data.")


@canvas_cli.command("sync")
@click.option("--email", default=None, help="The user to sync.")
@click.option("--all", "all_users", is_flag=True, help="Every user with a Canvas connection (for cron).")
@click.option("--incremental", is_flag=True, help="Fetch only what changed since the last successful sync.")
@click.option("--course", "course_id", type=int, default=None, help="Re-sync only this Canvas course id.")
@click.option("--queue", "use_queue", is_flag=True, help="Queue the syncs for the workers and return at once.")
def canvas_sync(email, all_users, incremental, course_id, use_queue):
    """Sync Canvas data now, in this process (or, with --queue, through the workers)."""
    if bool(email) == all_users:
        raise click.UsageError("Give --email or --all.")
    if course_id is not None and (all_users or use_queue):
        raise click.UsageError("--course syncs one user's course in this process: use it with --email only.")
    users = [_get_user(email)] if email else db.session.scalars(
        select(User).where(User.canvas_token_encrypted.is_not(None), User.canvas_base_url.is_not(None))
        .order_by(User.id)).all()
    if use_queue:
        _queue_syncs(users, incremental)
        return
    failed = []
    for user in users:
        try:
            ok = _sync_one(user, incremental, course_id)
        except click.ClickException as exc:
            if not all_users:
                raise
            click.echo(f"{user.email}: {exc.format_message()}", err=True)
            ok = False
        if not ok:
            failed.append(user.email)
    if failed:
        if all_users:
            click.echo(f"{len(failed)} of {len(users)} syncs did not fully succeed: {', '.join(failed)}", err=True)
        raise SystemExit(1)


def _queue_syncs(users: list[User], incremental: bool) -> None:
    from flask import current_app

    from app.sync.executors import hand_off
    from app.sync.jobs.canvas_sync import start_or_join

    started = 0
    for user in users:
        run, joined = start_or_join(user.id, trigger="cli", incremental=incremental, notify=False)
        started += not joined
        click.echo(f"{user.email}: {'joined the sync already under way' if joined else 'queued'} (run {run.id})")
    if not users:
        click.echo("No user has a Canvas connection.")
    if not hand_off(current_app._get_current_object(), started) and started:
        click.echo("Queued; a worker (flask queue work) or the scheduler will run them.")


def _sync_one(user: User, incremental: bool, course_id: int | None) -> bool:
    """One user's sync in this process; prints the outcome, True when it fully succeeded."""
    from app.services.canvas_errors import CanvasAPIError
    from app.services.canvas_sync_service import create_canvas_sync_service

    try:
        service = create_canvas_sync_service(user, on_progress=_progress_printer())
    except Exception as exc:  # no Canvas connection, undecryptable token
        raise click.ClickException(str(exc)) from None
    try:
        if course_id is not None:
            result = service.sync_course_data(course_id, trigger="cli")
        else:
            result = service.sync_all_data(use_incremental=incremental, trigger="cli")
    except CanvasAPIError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        service.api.close()
    if result.joined:
        click.echo(f"A sync of {user.email} is already running (run {result.run_id}); not starting another.")
        return True
    click.echo(result.summary())
    for closed in result.inaccessible:
        click.echo(f"  {closed['course']}: no longer open in Canvas (kept as last synced)")
    for error in result.course_errors:
        click.echo(f"  {error['course']} failed: {error['error']}", err=True)
    if result.error and not result.course_errors:
        message = result.error
        if result.error_kind == "invalid_token":
            message = message.replace("Update it in Settings.", "Update it with: flask --app run users set-canvas "
                                      f"--email {user.email} --canvas-url URL --canvas-token TOKEN")
        click.echo(message, err=True)
    return result.ok


def _progress_printer():
    """A progress bar on a terminal, plain lines otherwise."""
    import sys

    state = {"bar": None, "shown": 0}

    def show(run) -> None:
        if not run.progress_total:
            return
        if sys.stdout.isatty():
            if state["bar"] is None:
                state["bar"] = click.progressbar(length=run.progress_total, label="Syncing courses",
                                                 item_show_func=lambda item: item)
                state["bar"].__enter__()
            state["bar"].update(run.progress_current - state["shown"], run.current_item)
            if run.progress_current >= run.progress_total or run.is_finished:
                state["bar"].__exit__(None, None, None)
        elif run.progress_current > state["shown"]:
            click.echo(f"[{run.progress_current}/{run.progress_total}] {run.current_item}")
        state["shown"] = run.progress_current

    return show


sandbox_cli = AppGroup("sandbox", help="Run the sandbox stand-ins for external services.")


@sandbox_cli.command("canvas", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                               "help_option_names": []})
@click.pass_context
def sandbox_canvas(ctx):
    """Serve the sandbox Canvas (options as `python -m sandbox.canvas --help`)."""
    from sandbox.canvas import main

    raise SystemExit(main(ctx.args))


@sandbox_cli.command("discourse", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                                   "help_option_names": []})
@click.pass_context
def sandbox_discourse(ctx):
    """Serve the sandbox Discourse (options as `python -m sandbox.discourse --help`)."""
    from sandbox.discourse import main

    raise SystemExit(main(ctx.args))


@click.command("doctor")
@with_appcontext
def doctor_command():
    """List every unsafe or missing production setting; exit 1 when there is one."""
    from app.production import check

    problems = check(current_app.config)
    for problem in problems:
        click.echo(f"UNSAFE  {problem}")
    if problems:
        raise SystemExit(1)
    click.echo("OK  The production settings are safe.")


def init_app(app: Flask) -> None:
    app.cli.add_command(doctor_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(canvas_cli)
    app.cli.add_command(sandbox_cli)
    from app.sync.cli import hub_cli, queue_cli, scheduler_command, sync_cli

    app.cli.add_command(queue_cli)
    app.cli.add_command(hub_cli)
    app.cli.add_command(sync_cli)
    app.cli.add_command(scheduler_command)
