from __future__ import annotations

import threading
import time
from collections import deque

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.web.auth import bp
from app.web.auth.forms import LoginForm, RegisterForm

_WINDOW_S = 300
_attempts: dict[str, deque] = {}
_attempts_lock = threading.Lock()


def _too_many_attempts(key: str) -> bool:
    """Sliding-window limit on failed logins per client address and email."""
    now = time.monotonic()
    with _attempts_lock:
        window = _attempts.setdefault(key, deque())
        while window and now - window[0] > _WINDOW_S:
            window.popleft()
        return len(window) >= current_app.config["LOGIN_RATE_LIMIT"]


def _record_failure(key: str) -> None:
    with _attempts_lock:
        _attempts.setdefault(key, deque()).append(time.monotonic())


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: never redirect to another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("planner.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("planner.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        key = f"{request.remote_addr}|{email}"
        if _too_many_attempts(key):
            flash("Too many failed logins. Wait a few minutes and try again.", "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        _record_failure(key)
        flash("Wrong email or password.", "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("planner.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        if db.session.scalar(select(User.id).where(User.email == email)) is not None:
            form.email.errors.append("An account with this email already exists.")
            return render_template("auth/register.html", form=form), 400
        user = User(email=email)
        user.set_password(form.password.data)
        db.session.add(user)
        db.session.commit()
        login_user(user)
        flash("Welcome! Connect your Canvas account to get started.", "info")
        return redirect(url_for("planner.index"))
    return render_template("auth/register.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
