"""Sandbox Discourse: a stand-in for the Discourse API on 127.0.0.1 (shares no code with app/).

In process::

    from sandbox.discourse import DiscourseSandbox
    with DiscourseSandbox(categories=2, topics_per_category=2, throttle_window_s=1) as sb:
        sb.base_url, sb.api_key, sb.api_username          # "sandbox-key", "system" (an admin)
        sb.forum                                           # Forum: categories, topics, posts
        sb.reply("alice", topic_id, "raw text ...")        # act as a Discourse user (webhooks fire)
        sb.edit_post("bob", post_id, "new raw"); sb.create_topic(...); sb.delete_post(...)
        sb.advance_clock(301)                              # past the 5-minute editing grace period
        sb.add_webhook("http://127.0.0.1:PORT/hook", secret="s3cret"); sb.wait_webhooks()
        sb.deliveries, sb.request_log, sb.writes(), sb.clear_log()
        sb.set_faults(0.1, seed=7, kinds=["500", "drop"]); sb.set_throttle(limit=5, window_s=1)

Command line: ``python -m sandbox.discourse --port 8766`` (or ``flask sandbox discourse``).

Control endpoint (no Discourse client calls it): ``GET /__sandbox__/health``,
``GET /__sandbox__/log?since=N``, ``POST /__sandbox__/log/clear``,
``POST /__sandbox__/act`` ``{"op": "edit_post", "as": "alice", "post_id": 5, "raw": "..."}``
(ops: create_topic, reply, edit_post, delete_post), ``POST /__sandbox__/faults``
``{"rate": 0.1, "seed": 1, "kinds": ["500", "drop"], "methods": ["PUT"]}``,
``POST /__sandbox__/throttle`` ``{"limit": 60, "window_s": 60, "enabled": true}``,
``POST /__sandbox__/clock`` ``{"advance": 301}``, ``POST /__sandbox__/webhooks``
``{"url": ..., "secret": ...}``, ``GET /__sandbox__/webhooks/deliveries``,
``POST /__sandbox__/webhooks/redeliver`` ``{"event_id": 3}``, ``POST /__sandbox__/webhooks/ping``.

What is modelled on Discourse's source: see forum.py, api.py, throttle.py, webhooks.py.
"""
from .cli import build_parser, main
from .faults import FAULT_KINDS
from .forum import EDIT_CONFLICT, Forum, ForumError
from .runner import DiscourseSandbox, RequestLogEntry

__all__ = ["DiscourseSandbox", "EDIT_CONFLICT", "FAULT_KINDS", "Forum", "ForumError", "RequestLogEntry",
           "build_parser", "main"]
