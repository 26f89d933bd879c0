"""The Discussions page: one thread from Canvas, Discourse and Canvas Flow, its forms, who may see and do what.

Against a sandbox Canvas and a sandbox Discourse (real HTTP), on every database backend.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Course, DiscussionPost, DiscussionTopic, HubCourseLink, SyncOperation
from app.sync import queue
from app.sync.connectors.discourse import MARKER as DISCOURSE_MARKER
from app.sync.hub import Hub
from tests.fixtures.discourse import make_discourse_sandbox  # noqa: F401 (fixture)
from tests.sync.hub_env import mapped
from tests.web.conftest import csrf_token, login, make_user
from tests.web.hub_env import PASSWORD, hub_env, synced_thread  # noqa: F401 (fixture)

ONCE = queue.RetryPolicy(max_attempts=1, backoff_base_s=0.0, backoff_max_s=0.0, lease_s=60)


def _page(client, env) -> str:
    response = client.get(f"/courses/{env.course_id}/discussions")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _states(html: str, anchor: str) -> dict[str, str]:
    """system -> reached state, for the topic/post with that element id."""
    start = html.index(f'id="{anchor}"')
    end = html.find('class="body"', start)
    return dict(re.findall(r'data-system="(\w+)" data-state="(\w+)"', html[start:end]))


def _origin(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return re.search(r'class="badge origin origin-(\w+)"', html[start:]).group(1)


@pytest.fixture
def teacher(client, hub_env):
    login(client, hub_env.email, PASSWORD)
    return client


def _form(client, env, path: str, data: dict):
    token = csrf_token(client, f"/courses/{env.course_id}/discussions")
    return client.post(f"/courses/{env.course_id}/discussions{path}", data={**data, "csrf_token": token})


def _topic(title: str) -> DiscussionTopic:
    return db.session.scalar(select(DiscussionTopic).where(DiscussionTopic.title == title))


def test_page_shows_one_thread_with_origins_and_reached_states(teacher, hub_env):
    env = hub_env
    synced_thread(env)
    canvas_topic = _topic("Osmosis lab questions")
    discourse_topic = db.session.scalar(select(DiscussionTopic).where(DiscussionTopic.origin_system == "discourse"))
    [canvas_reply] = canvas_topic.posts
    html = _page(teacher, env)
    assert "Osmosis lab questions" in html and discourse_topic.title in html
    assert "Do we need goggles?" in html and "hello from alice" in html
    assert _origin(html, f"topic-{canvas_topic.id}") == "canvas"
    assert _origin(html, f"topic-{discourse_topic.id}") == "discourse"
    assert _origin(html, f"post-{canvas_reply.id}") == "canvas"
    both = {"canvas": "synced", "discourse": "synced"}
    assert _states(html, f"topic-{canvas_topic.id}") == both and _states(html, f"topic-{discourse_topic.id}") == both
    assert 'Linked to Discourse category <strong>2</strong>' in html

    # A reply written here: pending on both sides until the workers deliver it.
    answer = _form(teacher, env, f"/topics/{canvas_topic.id}/replies", {"body": "Yes: goggles\n\nand gloves <3"})
    assert answer.status_code == 303
    reply = db.session.scalar(select(DiscussionPost).where(DiscussionPost.origin_system == "local"))
    html = _page(teacher, env)
    assert _origin(html, f"post-{reply.id}") == "local" and "Canvas Flow" in html
    assert _states(html, f"post-{reply.id}") == {"canvas": "pending", "discourse": "pending"}
    assert "<p>Yes: goggles</p><p>and gloves &lt;3</p>" in reply.body_html  # plain text became paragraphs

    # Discourse is down and the delivery gives up: failed there; Canvas got it.
    env.discourse.stop()
    env.drain(ONCE)
    html = _page(teacher, env)
    assert _states(html, f"post-{reply.id}") == {"canvas": "synced", "discourse": "failed"}
    failed = db.session.scalar(select(SyncOperation).where(SyncOperation.target_system == "discourse",
                                                           SyncOperation.status == SyncOperation.FAILED))
    post_html = html[html.index(f'id="post-{reply.id}"'):]
    post_html = post_html[:post_html.index('class="body"')]
    # The reason, in the operation's own words, beside the post; and a retry for the owner.
    assert f"Not delivered to Discourse: {failed.error_message}" in post_html
    assert f'/discussions/deliveries/{failed.id}/retry"' in post_html
    # ... and when it is back, that retry delivers it.
    env.discourse.start()
    woken = env.executor.notified
    retried = _form(teacher, env, f"/deliveries/{failed.id}/retry", {})
    assert retried.status_code == 303 and env.executor.notified == woken + 1
    assert "tried again shortly" in teacher.get(retried.headers["Location"]).get_data(as_text=True)
    env.drain()
    assert _states(_page(teacher, env), f"post-{reply.id}") == {"canvas": "synced", "discourse": "synced"}
    assert any("goggles" in p.raw for p in env.discourse.forum.posts.values())


def test_stored_html_is_cleaned_again_when_shown(teacher, hub_env):
    """Bodies are sanitized by the hub; the page cleans them once more and never runs a script."""
    synced_thread(hub_env)
    topic = _topic("Osmosis lab questions")
    topic.body_html = ('<p>Hi</p><script>alert(1)</script><a href="javascript:alert(2)">x</a>'
                       '<img src=x onerror="alert(3)"><a href="https://example.org/lab">lab</a>')
    db.session.commit()
    html = _page(teacher, hub_env)
    body = html[html.index(f'id="topic-{topic.id}"'):]
    body = body[body.index('class="body"'):body.index("</div>")]
    assert "<script" not in body and "javascript:" not in body and "onerror" not in body
    assert 'href="https://example.org/lab"' in body


def test_reply_and_edit_forms_write_locally_and_queue_deliveries(teacher, hub_env):
    env = hub_env
    synced_thread(env)
    topic = _topic("Osmosis lab questions")
    [reply] = topic.posts
    before = len(env.deliveries())

    answer = _form(teacher, env, f"/topics/{topic.id}/edit", {"title": "Osmosis lab: questions", "body": "Ask here."})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"#topic-{topic.id}")
    db.session.expire_all()
    assert (topic.title, topic.body_html, topic.updated_by_system) == ("Osmosis lab: questions", "<p>Ask here.</p>",
                                                                     "local")
    edited = _form(teacher, env, f"/posts/{reply.id}/edit", {"body": "<p>Do we need <b>goggles</b>?</p>"})
    assert edited.status_code == 303
    db.session.expire_all()
    assert reply.body_html == "<p>Do we need <b>goggles</b>?</p>"
    queued = {(o.entity_type, o.target_system) for o in env.deliveries()[before:]}
    assert queued == {("discussion_topic", "canvas"), ("discussion_topic", "discourse"),
                      ("discussion_post", "canvas"), ("discussion_post", "discourse")}
    assert env.executor.notified >= 4  # a worker woken per linked system, per write

    created = _form(teacher, env, "/topics", {"title": "Field trip", "body": "Bring lunch."})
    assert created.status_code == 303
    new = _topic("Field trip")
    assert new.origin_system == "local" and new.author_name == "teacher"  # never the whole e-mail address

    env.drain()  # the workers: every side now holds the edits
    canvas_titles = {t["title"] for t in env.canvas.data.course_topics(env.canvas_course)}
    assert {"Osmosis lab: questions", "Field trip"} <= canvas_titles
    assert any(t.title == "Field trip" for t in env.discourse.forum.topics.values())
    html = _page(teacher, env)
    assert _states(html, f"topic-{new.id}") == {"canvas": "synced", "discourse": "synced"}


def test_bad_input_is_a_plain_flash_and_changes_nothing(teacher, hub_env):
    synced_thread(hub_env)
    topic = _topic("Osmosis lab questions")
    posts = db.session.scalar(select(func.count()).select_from(DiscussionPost))
    # Only a script: nothing left once sanitized -> the hub's ValueError, in plain words.
    answer = _form(teacher, hub_env, f"/topics/{topic.id}/replies", {"body": "<script>alert(1)</script>"})
    assert answer.status_code == 303
    page = teacher.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Write something before posting." in page
    empty = _form(teacher, hub_env, f"/topics/{topic.id}/edit", {"title": "   ", "body": "x"})
    assert empty.status_code == 303
    assert "Give the topic a title." in teacher.get(empty.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(DiscussionPost)) == posts
    db.session.expire_all()
    assert topic.title == "Osmosis lab questions"


def test_forms_need_a_csrf_token(teacher, hub_env):
    synced_thread(hub_env)
    topic = _topic("Osmosis lab questions")
    base = f"/courses/{hub_env.course_id}/discussions"
    deliveries = len(hub_env.deliveries())
    for path, data in ((f"/topics/{topic.id}/replies", {"body": "forged"}),
                       (f"/topics/{topic.id}/edit", {"title": "forged", "body": "forged"}),
                       (f"/posts/{topic.posts[0].id}/edit", {"body": "forged"}),
                       ("/topics", {"title": "forged"}), ("/link", {"category_id": "3"})):
        assert teacher.post(base + path, data=data).status_code == 400, path
    assert "forged" not in _page(teacher, hub_env)
    assert len(hub_env.deliveries()) == deliveries
    assert db.session.scalar(select(HubCourseLink.container_id).where(HubCourseLink.system == "discourse")) == "2"


def test_another_users_course_is_404_and_only_owner_or_admin_link(client, hub_env):
    synced_thread(hub_env)
    topic = _topic("Osmosis lab questions")
    base = f"/courses/{hub_env.course_id}/discussions"
    make_user("other@example.edu")
    login(client, "other@example.edu")
    assert client.get(base).status_code == 404
    token = csrf_token(client, "/settings/")
    for path, data in ((f"/topics/{topic.id}/replies", {"body": "intruder"}), ("/link", {"category_id": "3"}),
                       ("/topics", {"title": "intruder"})):
        assert client.post(base + path, data={**data, "csrf_token": token}).status_code == 404
    assert client.get("/courses/999999/discussions").status_code == 404

    # An admin reads any course's page and may link it, but replies are the owner's (they go out as the owner).
    client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/")})
    make_user("admin@example.edu", admin=True)
    login(client, "admin@example.edu")
    html = client.get(base).get_data(as_text=True)
    assert "Osmosis lab questions" in html and 'id="link-form"' in html
    assert "Post reply" not in html and "Edit topic" not in html
    token = csrf_token(client, base)
    assert client.post(base + f"/topics/{topic.id}/replies", data={"body": "x", "csrf_token": token}).status_code \
        == 404
    linked = client.post(base + "/link", data={"category_id": "3", "csrf_token": token})
    assert linked.status_code == 303
    assert "Linked to Discourse category <strong>3</strong>" in client.get(base).get_data(as_text=True)


def test_owner_links_a_course_and_a_taken_category_is_refused(teacher, hub_env):
    env = hub_env
    other = Course(user_id=env.user_id, canvas_course_id=env.canvas_course + 1000, name="Chemistry")
    db.session.add(other)
    db.session.commit()
    Hub.from_app(db.session).link_course(other.id, 5)

    for bad, message in (("0", "A Discourse category id is a whole number from 1 up."),
                         ("twelve", "Not a valid integer value."), ("", "Give the number of the Discourse category.")):
        answer = _form(teacher, env, "/link", {"category_id": bad})
        assert answer.status_code == 303
        assert message in teacher.get(answer.headers["Location"]).get_data(as_text=True)
    taken = _form(teacher, env, "/link", {"category_id": "5"})
    assert "already linked to another course" in teacher.get(taken.headers["Location"]).get_data(as_text=True)
    assert "Linked to Discourse category <strong>2</strong>" in _page(teacher, env)

    moved = _form(teacher, env, "/link", {"category_id": "7"})
    assert moved.status_code == 303
    page = teacher.get(moved.headers["Location"]).get_data(as_text=True)
    assert "Linked to Discourse category 7" in page and "Linked to Discourse category <strong>7</strong>" in page
    assert 'value="7"' in page  # the form shows the current link


def test_course_page_links_to_discussions_and_unlinked_course_says_so(client, app):
    user = make_user("solo@example.edu", canvas=True)
    course = Course(user_id=user.id, canvas_course_id=4242, name="History")
    db.session.add(course)
    db.session.commit()
    login(client, user.email)
    course_page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert f'href="/courses/{course.id}/discussions"' in course_page
    html = client.get(f"/courses/{course.id}/discussions").get_data(as_text=True)
    assert "Not linked yet" in html and 'id="no-topics"' in html


def test_the_page_needs_a_session(client, app):
    response = client.get("/courses/1/discussions")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_topic_written_before_the_link_is_delivered_once_linked(teacher, hub_env):
    env = hub_env
    db.session.execute(HubCourseLink.__table__.delete().where(HubCourseLink.course_id == env.course_id))
    db.session.commit()
    written = _form(teacher, env, "/topics", {"title": "Field trip", "body": "Bring boots."})
    assert written.status_code == 303
    topic = _topic("Field trip")
    assert env.deliveries() == []  # linked nowhere yet: nothing to deliver to

    linked = _form(teacher, env, "/link", {"category_id": str(2)})
    assert "Linked to Discourse category 2" in teacher.get(linked.headers["Location"]).get_data(as_text=True)
    assert {op.target_system for op in env.deliveries(entity_id=str(topic.id))} == {"canvas", "discourse"}
    env.drain()
    assert _states(_page(teacher, env), f"topic-{topic.id}") == {"canvas": "synced", "discourse": "synced"}
    assert any(t["title"] == "Field trip" for t in env.canvas.data.topics.values())
    assert any(t.title == "Field trip" for t in env.discourse.forum.topics.values())


def test_linking_is_refused_in_plain_words_when_discourse_is_not_set_up(client, app):
    user = make_user("nodiscourse@example.edu", canvas=True)
    course = Course(user_id=user.id, canvas_course_id=4343, name="Geology")
    db.session.add(course)
    db.session.commit()
    login(client, user.email)
    token = csrf_token(client, f"/courses/{course.id}/discussions")
    answer = client.post(f"/courses/{course.id}/discussions/link", data={"category_id": "2", "csrf_token": token})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Not linked: Discourse is not set up: set DISCOURSE_URL and DISCOURSE_API_KEY." in page
    assert "stay in step" not in page
    assert db.session.scalar(select(func.count()).select_from(HubCourseLink)) == 0


def test_only_the_owner_retries_a_delivery_of_their_own_course(client, hub_env):
    env = hub_env
    synced_thread(env)
    topic = _topic("Osmosis lab questions")
    op, _ = queue.enqueue(db.session, "hub_delivery", entity_type="discussion_topic", entity_id=topic.id,
                          target_system="discourse")
    op.status, op.error_message = SyncOperation.FAILED, "Discourse answered 500."
    db.session.commit()
    make_user("stranger@example.edu")
    login(client, "stranger@example.edu")
    token = csrf_token(client, "/settings/")
    answer = client.post(f"/courses/{env.course_id}/discussions/deliveries/{op.id}/retry",
                         data={"csrf_token": token})
    assert answer.status_code == 404
    db.session.expire_all()
    assert db.session.get(SyncOperation, op.id).status == SyncOperation.FAILED


def test_an_imported_topic_and_reply_never_read_edited(teacher, hub_env):
    synced_thread(hub_env)
    html = _page(teacher, hub_env)
    assert "Osmosis lab questions" in html and "Do we need goggles?" in html
    assert "· edited" not in html  # nothing was edited: each is the first version the hub saw


def test_the_author_whose_edit_lost_sees_a_notice_with_their_text(teacher, hub_env):
    env = hub_env
    synced_thread(env)
    [reply] = _topic("Osmosis lab questions").posts
    copy_id = int(mapped("discourse", "discussion_post", reply.id))
    # Written here first; then in Discourse, five minutes later by its clock, before the hub's delivery.
    assert _form(teacher, env, f"/posts/{reply.id}/edit", {"body": "Goggles, please."}).status_code == 303
    env.discourse.advance_clock(300)
    raw = env.discourse.forum.posts[copy_id].raw
    found = DISCOURSE_MARKER.search(raw)
    env.discourse.edit_post("bob", copy_id, "Goggles and a lab coat." + (found.group(0) if found else ""))
    env.pull("discourse")
    env.drain()
    db.session.expire_all()
    assert reply.body_html == "<p>Goggles and a lab coat.</p>"  # the edit written last stands

    html = _page(teacher, env)
    notice = html[html.index(f'id="lost-post-{reply.id}"'):]
    notice = notice[:notice.index("</div>")]
    assert "Your edit did not stand" in notice and "Discourse" in notice and "written" in notice
    assert "<p>Goggles, please.</p>" in notice  # nothing lost: their text, to write again
    # Written again, it stands: the notice goes.
    assert _form(teacher, env, f"/posts/{reply.id}/edit", {"body": "Goggles, please."}).status_code == 303
    assert f'id="lost-post-{reply.id}"' not in _page(teacher, env)
