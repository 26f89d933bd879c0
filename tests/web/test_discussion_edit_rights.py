"""Who may edit which post on the Discussions page, by Canvas's rules: your own posts; a teacher or TA
of the course any post in it (Canvas's enrollments, asked with the owner's token)."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Course, DiscussionPost, DiscussionTopic
from app.sync.hub import Hub
from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 (fixture)
from tests.helpers import make_canvas_user
from tests.web.conftest import csrf_token, device, login
from tests.web.hub_env import PASSWORD, hub_env, synced_thread  # noqa: F401 (fixture)


def _page(client, course_id: int) -> str:
    response = client.get(f"/courses/{course_id}/discussions")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _post_form(client, course_id: int, path: str, data: dict):
    base = f"/courses/{course_id}/discussions"
    return client.post(f"{base}{path}", data={**data, "csrf_token": csrf_token(client, base)})


def _edit_urls(course_id: int, topic: DiscussionTopic, post: DiscussionPost) -> tuple[str, str]:
    base = f"/courses/{course_id}/discussions"
    return f'action="{base}/topics/{topic.id}/edit"', f'action="{base}/posts/{post.id}/edit"'


def test_a_student_edits_only_their_own_posts_and_a_forged_edit_is_403(app, hub_env):
    env = hub_env
    student = make_canvas_user(env.canvas, email="pupil@example.edu", token=env.canvas.student_token)
    course = Course(user_id=student.id, canvas_course_id=env.canvas_course, name="Biology (my copy)")
    db.session.add(course)
    db.session.commit()
    # Someone else's topic and reply in the student's copy of the course (written by no one of theirs).
    hub = Hub.from_app(db.session)
    theirs = hub.create_topic(course.id, "Lab safety", "<p>Read before Monday.</p>", author_name="teacher")
    their_reply = hub.post_reply(theirs.id, "<p>Goggles on.</p>", author_name="teacher")
    hub.close()

    client = device(app)
    login(client, student.email, PASSWORD)
    assert _post_form(client, course.id, "/topics", {"title": "My question", "body": "Is it open book?"}).status_code == 303
    mine = db.session.scalar(select(DiscussionTopic).where(DiscussionTopic.title == "My question"))
    assert mine.author_user_id == student.id
    assert _post_form(client, course.id, f"/topics/{theirs.id}/replies", {"body": "Thanks!"}).status_code == 303
    my_reply = db.session.scalar(select(DiscussionPost).where(DiscussionPost.body_html == "<p>Thanks!</p>"))
    assert my_reply.author_user_id == student.id

    html = _page(client, course.id)
    their_topic_edit, their_reply_edit = _edit_urls(course.id, theirs, their_reply)
    my_topic_edit, my_reply_edit = _edit_urls(course.id, mine, my_reply)
    assert my_topic_edit in html and my_reply_edit in html
    assert their_topic_edit not in html and their_reply_edit not in html
    assert html.count("Edit topic") == 1 and html.count("Edit reply") == 1

    # Forged requests for the other's posts: 403, nothing changed.
    forged = _post_form(client, course.id, f"/topics/{theirs.id}/edit", {"title": "Hacked", "body": "x"})
    assert forged.status_code == 403
    forged = _post_form(client, course.id, f"/posts/{their_reply.id}/edit", {"body": "x"})
    assert forged.status_code == 403
    db.session.expire_all()
    assert (theirs.title, their_reply.body_html) == ("Lab safety", "<p>Goggles on.</p>")

    # Their own: saved.
    edited = _post_form(client, course.id, f"/posts/{my_reply.id}/edit", {"body": "Thanks a lot!"})
    assert edited.status_code == 303
    db.session.expire_all()
    assert my_reply.body_html == "<p>Thanks a lot!</p>"


def test_a_teacher_of_the_course_edits_any_post_in_it(app, hub_env):
    env = hub_env
    synced_thread(env)  # topics and replies pulled from Canvas and Discourse: written by others
    pulled = db.session.scalar(select(DiscussionTopic).where(DiscussionTopic.origin_system == "discourse"))
    [pulled_reply, *_] = [p for t in db.session.scalars(select(DiscussionTopic)) for p in t.posts]
    assert pulled.author_user_id is None and pulled_reply.author_user_id is None
    client = device(app)
    login(client, env.email, PASSWORD)  # the sandbox's own user teaches the course
    html = _page(client, env.course_id)
    topic_edit, reply_edit = _edit_urls(env.course_id, pulled, pulled_reply)
    assert topic_edit in html and reply_edit in html
    assert _post_form(client, env.course_id, f"/posts/{pulled_reply.id}/edit", {"body": "Edited by the teacher"}
                      ).status_code == 303
    db.session.expire_all()
    assert pulled_reply.body_html == "<p>Edited by the teacher</p>"
