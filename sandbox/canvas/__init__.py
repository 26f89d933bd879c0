"""Sandbox Canvas: a faithful stand-in for the Canvas LMS REST API on 127.0.0.1.

In process::

    from sandbox.canvas import CanvasSandbox
    with CanvasSandbox(courses=3, assignments=10, students=20, seed=1) as sb:
        sb.base_url, sb.token, sb.expired_token, sb.revoked_token, sb.scoped_token (users/self only)
        sb.student_token   # the first student's own token (sb.student_id): own submissions only,
                           # no needs_grading_count, own total_scores on the course enrollments
        sb.data            # CanvasData (see sandbox.canvas.data for how to enumerate it)
        sb.request_log     # [RequestLogEntry(method, path, query, status, started, duration,
                           #                  throttled, fault, cost)]; sb.clear_log()
        sb.grade_submission(assignment_id, user_id, 9.5)   # and the other change methods
        sb.restrict_course(course_id, "concluded"|"date")   # listed as {"id", "access_restricted_by_date"}
        sb.revoke_access(course_id)   # still listed, every call inside answers unauthorized
        sb.restore_access(course_id)
        sb.create_topic(course_id, "Title", "<p>Body</p>"), sb.update_topic(topic_id, message=...),
        sb.create_entry(topic_id, "<p>Reply</p>"), sb.update_entry(entry_id, "..."), sb.delete_entry(id)
        sb.writes(since=0)  # the POST/PUT/DELETE requests in the log (who wrote to this Canvas)

Command line: ``python -m sandbox.canvas --courses 50 --assignments 100 --students 200``
(``build_parser()`` / ``add_cli_options(parser)`` / ``main(argv)`` for wrappers).

Control endpoint (no Canvas client calls it): ``GET /__sandbox__/health``,
``GET /__sandbox__/data``, ``GET /__sandbox__/log?since=N``, ``POST /__sandbox__/log/clear``,
``POST /__sandbox__/mutate`` ``{"op": "rename_course", "course_id": 101, "name": "..."}``,
``POST /__sandbox__/faults`` ``{"rate": 0.2, "seed": 7, "kinds": ["500"], "slow_s": 2}``,
``POST /__sandbox__/throttle`` ``{"enabled": false, "status": 429}``,
``POST /__sandbox__/latency`` ``{"ms": 50}``.

Canvas behaviour checked against canvas-lms source (app/controllers/submissions_api_controller.rb,
lib/api.rb): see sandbox/canvas/api.py and pagination.py docstrings.
"""
from .cli import add_cli_options, build_parser, main
from .data import CanvasData, SandboxError
from .faults import FAULT_KINDS
from .runner import CanvasSandbox, RequestLogEntry

__all__ = ["CanvasSandbox", "CanvasData", "RequestLogEntry", "SandboxError", "FAULT_KINDS",
           "add_cli_options", "build_parser", "main"]
