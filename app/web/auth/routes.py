from __future__ import annotations

import logging
import secrets
from functools import lru_cache
from hashlib import sha256
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import User
from app.services.canvas_oauth import revoke_canvas
from app.ops.mail import send_email, smtp_configured
from app.web.auth import bp
from app.web.auth.forms import ChangePasswordForm, LoginForm, RegisterForm, ResetPasswordForm, ResetRequestForm
from app.web.auth.ratelimit import limiter, reset_limiter

log = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str:
    """A local path only; anything else (another host, a scheme, control characters) lands on the planner."""
    # Browsers drop tabs and newlines inside URLs ("/\t/evil.example" becomes "//evil.example"),
    # and a CR or LF cannot go into a Location header at all: refuse every control character.
    if not target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return url_for("planner.index")
    parts = urlsplit(target)
    if (not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme
            or parts.netloc):
        return url_for("planner.index")
    return target


@lru_cache(maxsize=1)
def _unknown_account_hash() -> str:
    # Checked when no account has the address, so an unknown one costs the same hashing time.
    return generate_password_hash(secrets.token_urlsafe(16))


def start_session(user: User, *, remember: bool = False) -> None:
    # Nothing from before the login survives (a planted session cannot be carried in), and the
    # CSRF secret is a new one, made now: streamed pages save the session before they render.
    session.clear()
    g.pop("csrf_token", None)
    generate_csrf()
    login_user(user, remember=remember)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("planner.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr or "?"
        if limiter().blocked(address, email):
            flash("Too many failed logins. Wait a few minutes and try again.", "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            check_password_hash(_unknown_account_hash(), form.password.data)
        elif user.check_password(form.password.data):
            limiter().record_success(address, email)
            start_session(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        limiter().record_failure(address, email)
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
        start_session(user)
        flash("Welcome! Connect your Canvas account to get started.", "info")
        return redirect(url_for("settings.canvas"))
    return render_template("auth/register.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Every session of this user ends, on every device, including copies of this cookie.
    if request.form.get("revoke_canvas"):
        revoke_canvas(current_user._get_current_object())
    current_user.end_all_sessions()
    db.session.commit()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not user.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
            return render_template("auth/change_password.html", form=form), 400
        user.set_password(form.password.data)
        user.end_all_sessions()
        db.session.commit()
        log.info("event=password_changed user_id=%s", user.id)
        start_session(user)  # this browser stays logged in; every other session ends
        flash("Your password was changed. Other devices are logged out.", "success")
        return redirect(url_for("planner.index"))
    return render_template("auth/change_password.html", form=form), (400 if request.method == "POST" else 200)


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="canvasflow-password-reset")


def _reset_fingerprint(user: User) -> str:
    # Changes with the password and the session version: a link works once, and not after a logout-everywhere.
    return sha256(f"{user.password_hash}:{user.session_version}".encode()).hexdigest()[:24]


def reset_token(user: User) -> str:
    return _reset_serializer().dumps({"user": user.id, "fingerprint": _reset_fingerprint(user)})


def _user_of_reset_token(token: str) -> User | None:
    max_age = int(current_app.config.get("PASSWORD_RESET_HOURS", 2)) * 3600
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except BadSignature:
        return None
    user = db.session.get(User, int(data.get("user") or 0)) if isinstance(data, dict) else None
    if user is None or not secrets.compare_digest(str(data.get("fingerprint")), _reset_fingerprint(user)):
        return None
    return user


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    form = ResetRequestForm()
    if not smtp_configured(current_app.config):
        return render_template("auth/reset_request.html", form=form, available=False), 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr or "?"
        limits = reset_limiter()
        if not limits.blocked(address, email):
            limits.record_failure(address, email)
            user = db.session.scalar(select(User).where(User.email == email))
            if user is not None:
                _send_reset(user)
        # The same answer whether or not the address has an account.
        flash("If an account has that address, a reset link is on its way.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form, available=True), (
        400 if request.method == "POST" else 200)


def _send_reset(user: User) -> None:
    link = url_for("auth.reset_password", token=reset_token(user), _external=True)
    hours = current_app.config.get("PASSWORD_RESET_HOURS", 2)
    try:
        send_email(current_app.config, [user.email], "[Canvas Flow] Reset your password",
                   f"Someone asked to reset the Canvas Flow password of {user.email}.\n\n"
                   f"To choose a new password, open this link within {hours} hours:\n{link}\n\n"
                   "If it was not you, ignore this message; your password stays as it is.\n")
        log.info("event=password_reset_sent user_id=%s", user.id)
    except OSError as exc:  # smtplib errors are OSErrors: the person sees the same sentence either way
        log.warning("event=password_reset_send_failed user_id=%s error=%s", user.id, type(exc).__name__)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = _user_of_reset_token(token)
    if user is None:
        flash("That reset link is not valid any more. Ask for a new one.", "error")
        return redirect(url_for("auth.reset_request"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        user.end_all_sessions()
        db.session.commit()
        limiter().record_success(request.remote_addr or "?", user.email)
        log.info("event=password_reset user_id=%s", user.id)
        flash("Your password was set. Log in with it.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form), (400 if request.method == "POST" else 200)
