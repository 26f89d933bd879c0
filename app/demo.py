"""`python run.py --demo`: the product on SQLite against the built-in sandbox Canvas and Discourse.

Starts both sandboxes on loopback, makes sure the demo teacher and a demo student exist and
point at the sandbox Canvas, runs a first sync so the planner is filled when the login page
opens, and links the teacher's first course to the forum's first course category, with a
topic and a reply written in Canvas beside the forum's own, so the Discussions page shows a
two-way thread at once.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Course, HubCourseLink, User

DEMO_CATEGORY = 2  # the sandbox forum's "Course 1 discussions" (1 is Uncategorized)


@dataclass
class Demo:
    canvas: object
    discourse: object
    course_id: int

    def stop(self) -> None:
        self.canvas.stop()
        self.discourse.stop()


def _user(email: str, password: str, *, admin: bool) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, is_admin=admin)
        user.set_password(password)
        db.session.add(user)
    return user


def _sync(user: User):
    from app.services.canvas_sync_service import create_canvas_sync_service

    service = create_canvas_sync_service(user)
    try:
        return service.sync_all_data(use_incremental=True, trigger="demo")
    finally:
        service.api.close()


def start_demo(app: Flask) -> Demo:
    from sandbox.canvas import CanvasSandbox
    from sandbox.discourse import DiscourseSandbox

    canvas = CanvasSandbox(courses=6, assignments=15, students=25, seed=7, latency_ms=20,
                           port=app.config["DEMO_SANDBOX_PORT"])
    canvas.start()
    discourse = DiscourseSandbox(categories=1, topics_per_category=1, replies_per_topic=2, throttle=False,
                                 port=app.config.get("DEMO_DISCOURSE_PORT", 0))
    discourse.start()
    # The demo's systems are on loopback: pull them often, so a reply written there shows in seconds.
    app.config.update(DISCOURSE_URL=discourse.base_url, DISCOURSE_API_KEY=discourse.api_key,
                      DISCOURSE_API_USERNAME=discourse.api_username,
                      HUB_PULL_SECONDS=app.config.get("DEMO_HUB_PULL_SECONDS", 3),
                      SYNC_TICK_SECONDS=app.config.get("DEMO_TICK_SECONDS", 1))
    with app.app_context():
        email, password = app.config["DEMO_EMAIL"], app.config["DEMO_PASSWORD"]
        user = _user(email, password, admin=True)
        user.canvas_base_url, user.canvas_token = canvas.base_url, canvas.token
        student = _user(app.config["DEMO_STUDENT_EMAIL"], app.config["DEMO_STUDENT_PASSWORD"], admin=False)
        student.canvas_base_url, student.canvas_token = canvas.base_url, canvas.student_token
        db.session.commit()
        result = _sync(user)
        print(f"Sandbox Canvas at {canvas.base_url}; first sync: {result.summary()}", flush=True)
        _sync(student)
        course_id = _link_and_seed(app, user, canvas)
        print(f"Sandbox Discourse at {discourse.base_url}; course {course_id} linked to its category "
              f"{DEMO_CATEGORY}: /courses/{course_id}/discussions", flush=True)
        print(f"Demo login: {email} / {password}", flush=True)
        print(f"Student login: {student.email} / {app.config['DEMO_STUDENT_PASSWORD']}", flush=True)
    return Demo(canvas, discourse, course_id)


def _link_and_seed(app: Flask, user: User, canvas) -> int:
    """Link the teacher's first course, write a topic and a reply in Canvas, and run the hub once."""
    from app.sync import queue
    from app.sync.hub import HUB_DELIVERY, HUB_PULL, Hub

    course = db.session.scalar(select(Course).where(Course.user_id == user.id, Course.deleted_at.is_(None))
                               .order_by(Course.id))
    topic = canvas.create_topic(course.canvas_course_id, "Welcome: introduce yourself",
                                "<p>Say hello and tell us one thing you want to learn this term.</p>")
    canvas.create_entry(topic["id"], "<p>Hi all, I'm looking forward to the lab sessions.</p>")
    hub = Hub.from_app(db.session)
    try:
        linked = db.session.scalar(select(HubCourseLink).where(HubCourseLink.course_id == course.id,
                                                               HubCourseLink.system == "discourse"))
        if linked is None:
            hub.link_course(course.id, DEMO_CATEGORY, user_id=user.id)
        hub.pull("canvas", user_id=user.id)
        hub.pull("discourse")
    finally:
        hub.close()
    policy = queue.RetryPolicy(max_attempts=3, backoff_base_s=0.0, backoff_max_s=0.0, lease_s=60)
    queue.process_available(db.session, "demo", kinds=[HUB_DELIVERY, HUB_PULL], policy=policy)
    return course.id
