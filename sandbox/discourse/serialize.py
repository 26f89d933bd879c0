"""JSON shapes as Discourse's serializers render them (PostSerializer, TopicViewSerializer,
TopicListItemSerializer, BasicCategorySerializer, WebHookPostSerializer, WebHookTopicViewSerializer).
Only the fields a sync client reads, plus a few to keep the shapes recognisable."""
from __future__ import annotations

from .clock import iso
from .cook import excerpt

CHUNK_SIZE = 20  # TopicView.chunk_size: posts in the first post_stream chunk


def _user(forum, user_id: int) -> dict:
    user = forum.users.get(user_id)
    return {"id": user_id, "username": user.username if user else "unknown", "name": user.name if user else None,
            "avatar_template": f"/letter_avatar_proxy/v4/letter/{(user.username if user else 'u')[0]}/{{size}}.png"}


def post_json(forum, post, *, add_raw: bool = False) -> dict:
    topic = forum.topics[post.topic_id]
    user = forum.users.get(post.user_id)
    out = {
        "id": post.id,
        "name": user.name if user else None,
        "username": user.username if user else None,
        "avatar_template": _user(forum, post.user_id)["avatar_template"],
        "created_at": iso(post.created_at),
        "cooked": post.cooked,
        "post_number": post.post_number,
        "post_type": 1,
        "updated_at": iso(post.updated_at),
        "reply_count": 0,
        "reply_to_post_number": post.reply_to_post_number,
        "topic_id": post.topic_id,
        "topic_slug": topic.slug,
        "display_username": user.name if user else None,
        "version": post.version,
        "can_edit": True,
        "can_delete": True,
        "user_id": post.user_id,
        "edit_reason": post.edit_reason,
        "deleted_at": iso(post.deleted_at),
        "wiki": False,
    }
    if add_raw:
        out["raw"] = post.raw
    return out


def topic_view_json(forum, topic, *, include_raw: bool = False) -> dict:
    ids = forum.visible_post_ids(topic)
    first = forum.first_post(topic)
    return {
        "post_stream": {"posts": [post_json(forum, forum.posts[pid], add_raw=include_raw) for pid in ids[:CHUNK_SIZE]],
                        "stream": ids},
        "id": topic.id,
        "title": topic.title,
        "fancy_title": _fancy(topic.title),
        "posts_count": len(ids),
        "created_at": iso(topic.created_at),
        "last_posted_at": iso(topic.last_posted_at),
        "bumped_at": iso(topic.bumped_at),
        "archetype": "regular",
        "slug": topic.slug,
        "category_id": topic.category_id,
        "external_id": topic.external_id,
        "user_id": topic.user_id,
        "highest_post_number": topic.highest_post_number,
        "deleted_at": iso(topic.deleted_at),
        "chunk_size": CHUNK_SIZE,
        "details": {"created_by": _user(forum, first.user_id), "can_edit": True},
    }


def topic_list_item(forum, topic) -> dict:
    ids = forum.visible_post_ids(topic)
    return {
        "id": topic.id,
        "title": topic.title,
        "fancy_title": _fancy(topic.title),
        "slug": topic.slug,
        "posts_count": len(ids),
        "reply_count": max(0, len(ids) - 1),
        "highest_post_number": topic.highest_post_number,
        "created_at": iso(topic.created_at),
        "last_posted_at": iso(topic.last_posted_at),
        "bumped": topic.bumped_at > topic.created_at,
        "bumped_at": iso(topic.bumped_at),
        "archetype": "regular",
        "excerpt": excerpt(forum.first_post(topic).cooked),
        "category_id": topic.category_id,
        "pinned": False, "visible": True, "closed": False, "archived": False,
        "posters": [{"description": "Original Poster", "user_id": topic.user_id}],
    }


def category_json(forum, category) -> dict:
    topics = forum.category_topics(category.id)
    return {
        "id": category.id, "name": category.name, "slug": category.slug, "color": "0088CC",
        "text_color": "FFFFFF", "description": category.description or None, "position": category.position,
        "topic_count": len(topics), "post_count": sum(len(forum.visible_post_ids(t)) for t in topics),
        "read_restricted": False, "parent_category_id": None,
    }


def webhook_post(forum, post) -> dict:
    """WebHookPostSerializer: the post with its topic's title, category and raw."""
    topic = forum.topics[post.topic_id]
    category = forum.categories.get(topic.category_id)
    out = post_json(forum, post, add_raw=True)
    out.update({"topic_title": topic.title, "category_id": topic.category_id,
                "category_slug": category.slug if category else None,
                "topic_posts_count": len(forum.visible_post_ids(topic)), "topic_archetype": "regular"})
    return out


def webhook_topic(forum, topic) -> dict:
    """WebHookTopicViewSerializer: topic fields without the post stream."""
    first = forum.first_post(topic)
    return {
        "id": topic.id, "title": topic.title, "fancy_title": _fancy(topic.title),
        "posts_count": len(forum.visible_post_ids(topic)), "created_at": iso(topic.created_at),
        "last_posted_at": iso(topic.last_posted_at), "bumped_at": iso(topic.bumped_at),
        "archetype": "regular", "slug": topic.slug, "category_id": topic.category_id,
        "external_id": topic.external_id, "user_id": topic.user_id, "deleted_at": iso(topic.deleted_at),
        "highest_post_number": topic.highest_post_number, "visible": True, "closed": False, "archived": False,
        "created_by": _user(forum, first.user_id),
    }


def _fancy(title: str) -> str:
    return title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
