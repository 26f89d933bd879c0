"""Thin views over the hub: read the merged thread, reply, edit, link a Discourse category.

Who may do what: the course's owner everything but linking; an admin may read any course's
page and link it (replies go out with the owner's Canvas account, so only the owner writes
them); the owner links only as a teacher or TA of the course in Canvas (access.py), and edits
their own posts, or any post as a teacher or TA of the course (a forged edit of another's post is
403); anyone else gets 404, as if the course did not exist.
"""
from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import Course, DiscussionPost, DiscussionTopic, HubCourseLink, SyncOperation
from app.sync import queue
from app.sync.hub import HUB_DELIVERY, TOPIC, Hub
from app.web.discussions import bp
from app.web.discussions.access import EditRights, LinkRefused, check_may_link
from app.web.discussions.forms import EditPostForm, LinkForm, ReplyForm, RetryForm, TopicForm
from app.web.discussions.text import to_html

log = logging.getLogger(__name__)

SYSTEM_NAMES = {"canvas": "Canvas", "discourse": "Discourse", "local": "Canvas Flow", "hub": "Canvas Flow"}


@bp.before_request
@login_required
def _require_login():
    return None


def _course(course_id: int, *, write: bool = False) -> Course:
    course = db.session.get(Course, course_id)
    if course is None or course.deleted_at is not None:
        abort(404)
    if course.user_id != current_user.id and (write or not current_user.is_admin):
        abort(404)
    return course


def _topic(course: Course, topic_id: int) -> DiscussionTopic:
    topic = db.session.get(DiscussionTopic, topic_id)
    if topic is None or topic.course_id != course.id:
        abort(404)
    return topic


def _post(course: Course, post_id: int) -> DiscussionPost:
    post = db.session.get(DiscussionPost, post_id)
    if post is None or post.topic.course_id != course.id:
        abort(404)
    return post


def _links(course_id: int) -> dict[str, str]:
    rows = db.session.execute(select(HubCourseLink.system, HubCourseLink.container_id)
                              .where(HubCourseLink.course_id == course_id))
    return dict(rows.all())


def _editable(course: Course, entity):
    if not EditRights(current_user, course).may_edit(entity):
        abort(403)
    return entity


def _author() -> str:
    # Shown on the other side: the part of the address before the @, never the whole address.
    return current_user.email.split("@", 1)[0]


def _checked(form) -> bool:
    """True when valid; a missing/expired CSRF token is 400, a field problem a plain flash."""
    if form.validate_on_submit():
        return True
    if "csrf_token" in form.errors:
        abort(400)
    for errors in form.errors.values():
        flash(errors[0], "error")
        break
    return False


def _back(course: Course, anchor: str | None = None):
    return redirect(url_for("discussions.course", course_id=course.id, _anchor=anchor), code=303)


def _run(course: Course, action, anchor, done: str, *, failed_anchor: str | None = None):
    """Run one hub call; its ValueError is the plain-words message shown to the person.

    `anchor` is where to land after it: a fixed element id, or a function of the call's result.
    """
    hub = Hub.from_app(db.session)
    try:
        result = action(hub)
    except ValueError as exc:
        flash(str(exc), "error")
        return _back(course, failed_anchor if callable(anchor) else anchor)
    finally:
        hub.close()
    # The deliveries are queued (same transaction as the write): wake a worker for each linked system.
    links = _links(course.id)
    if links:
        queue.wake(len(links))
    flash(done, "success")
    return _back(course, anchor(result) if callable(anchor) else anchor)


@bp.route("/courses/<int:course_id>/discussions")
def course(course_id: int):
    course = _course(course_id)
    hub = Hub.from_app(db.session)
    try:
        thread = hub.course_thread(course.id)
    finally:
        hub.close()
    link_form = LinkForm()
    links = _links(course.id)
    if "discourse" in links and links["discourse"].isdigit():
        link_form.category_id.data = int(links["discourse"])
    return render_template("discussions/course.html", course=course, thread=thread, links=links,
                           can_write=course.user_id == current_user.id, rights=EditRights(current_user, course),
                           names=SYSTEM_NAMES, link_form=link_form)


@bp.route("/courses/<int:course_id>/discussions/topics", methods=["POST"])
def new_topic(course_id: int):
    course = _course(course_id, write=True)
    form = TopicForm()
    if not _checked(form):
        return _back(course, "new-topic")
    return _run(course, lambda hub: hub.create_topic(course.id, form.title.data, to_html(form.body.data or ""),
                                                     author_name=_author(), author_user_id=current_user.id),
                lambda topic: f"topic-{topic.id}", "Topic saved; it goes to the linked systems shortly.",
                failed_anchor="new-topic")


@bp.route("/courses/<int:course_id>/discussions/topics/<int:topic_id>/replies", methods=["POST"])
def reply(course_id: int, topic_id: int):
    course = _course(course_id, write=True)
    topic = _topic(course, topic_id)
    form = ReplyForm()
    if not _checked(form):
        return _back(course, f"topic-{topic.id}")
    return _run(course, lambda hub: hub.post_reply(topic.id, to_html(form.body.data), author_name=_author(),
                                                  author_user_id=current_user.id),
                lambda post: f"post-{post.id}", "Reply posted; it goes to the linked systems shortly.",
                failed_anchor=f"topic-{topic.id}")


@bp.route("/courses/<int:course_id>/discussions/topics/<int:topic_id>/edit", methods=["POST"])
def edit_topic(course_id: int, topic_id: int):
    course = _course(course_id, write=True)
    topic = _editable(course, _topic(course, topic_id))
    form = TopicForm()
    if not _checked(form):
        return _back(course, f"topic-{topic.id}")
    return _run(course, lambda hub: hub.edit_topic(topic.id, title=form.title.data,
                                                   body_html=to_html(form.body.data or "")),
                f"topic-{topic.id}", "Topic saved; the change goes to the linked systems shortly.")


@bp.route("/courses/<int:course_id>/discussions/posts/<int:post_id>/edit", methods=["POST"])
def edit_post(course_id: int, post_id: int):
    course = _course(course_id, write=True)
    post = _editable(course, _post(course, post_id))
    form = EditPostForm()
    if not _checked(form):
        return _back(course, f"post-{post.id}")
    return _run(course, lambda hub: hub.edit_post(post.id, to_html(form.body.data)),
                f"post-{post.id}", "Post saved; the change goes to the linked systems shortly.")


@bp.route("/courses/<int:course_id>/discussions/deliveries/<int:op_id>/retry", methods=["POST"])
def retry_delivery(course_id: int, op_id: int):
    """The owner puts a failed delivery of this course's thread back in the queue."""
    course = _course(course_id, write=True)
    op = db.session.get(SyncOperation, op_id)
    if op is None or op.kind != HUB_DELIVERY or not _in_course(course, op):
        abort(404)
    if not _checked(RetryForm()):
        return _back(course)
    if queue.retry(db.session, op.id):
        queue.wake()
        flash("Delivery put back in the queue; it is tried again shortly.", "success")
    else:
        flash("That delivery is not failed any more.", "warning")
    anchor = f"topic-{op.entity_id}" if op.entity_type == TOPIC else f"post-{op.entity_id}"
    return _back(course, anchor)


def _in_course(course: Course, op: SyncOperation) -> bool:
    if not str(op.entity_id or "").isdigit():
        return False
    if op.entity_type == TOPIC:
        entity = db.session.get(DiscussionTopic, int(op.entity_id))
        return entity is not None and entity.course_id == course.id
    entity = db.session.get(DiscussionPost, int(op.entity_id))
    return entity is not None and entity.topic.course_id == course.id


@bp.route("/courses/<int:course_id>/discussions/link", methods=["POST"])
def link(course_id: int):
    course = _course(course_id)  # the owner, or an admin
    form = LinkForm()
    if not _checked(form):
        return _back(course, "link")
    category = form.category_id.data

    def linked(hub):
        hub.check_linkable(["discourse"])  # cheapest first: no Canvas call when nothing could be delivered
        try:
            check_may_link(current_user, course)
        except LinkRefused as exc:
            log.info("event=hub_course_link_refused course_id=%s category=%s by_user=%s", course.id, category,
                     current_user.id)
            raise ValueError(str(exc)) from None
        links = hub.link_course(course.id, category, user_id=current_user.id)
        log.info("event=hub_course_linked course_id=%s category=%s by_user=%s", course.id, category, current_user.id)
        return links

    return _run(course, linked, "link",
                f"Linked to Discourse category {category}: its topics and this course's stay in step.")
