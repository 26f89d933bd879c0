from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.web.auth import bp
from app.web.auth.forms import LoginForm, RegisterForm
from app.web.auth.ratelimit import limiter


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: never redirect to another host.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
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
        address = request.remote_addr or "?"
        if limiter().blocked(address, email):
            flash("Too many failed logins. Wait a few minutes and try again.", "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None and user.check_password(form.password.data):
            limiter().record_success(address, email)
            login_user(user, remember=form.remember.data)
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
        login_user(user)
        flash("Welcome! Connect your Canvas account to get started.", "info")
        return redirect(url_for("settings.canvas"))
    return render_template("auth/register.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
