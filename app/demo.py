"""`python run.py --demo`: the product on SQLite against the built-in sandbox Canvas.

Starts the sandbox on loopback, makes sure the demo user exists and points at it, and
runs a first sync so the planner is filled when the login page opens.
"""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import User


def start_demo(app: Flask):
    from sandbox.canvas import CanvasSandbox
    from app.services.canvas_sync_service import create_canvas_sync_service

    sandbox = CanvasSandbox(courses=6, assignments=15, students=25, seed=7, latency_ms=20,
                            port=app.config["DEMO_SANDBOX_PORT"])
    sandbox.start()
    with app.app_context():
        email, password = app.config["DEMO_EMAIL"], app.config["DEMO_PASSWORD"]
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, is_admin=True)
            user.set_password(password)
            db.session.add(user)
        user.canvas_base_url = sandbox.base_url
        user.canvas_token = sandbox.token
        db.session.commit()
        service = create_canvas_sync_service(user)
        try:
            result = service.sync_all_data(use_incremental=True, trigger="demo")
        finally:
            service.api.close()
        print(f"Sandbox Canvas at {sandbox.base_url}; first sync: {result.summary()}", flush=True)
        print(f"Demo login: {email} / {password}", flush=True)
    return sandbox
