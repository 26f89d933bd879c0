"""Sandbox Google Classroom (and the Admin Reports usage API) on 127.0.0.1.

In process::

    from sandbox.classroom import ClassroomSandbox
    with ClassroomSandbox(courses=2, course_work=6, students=5, seed=1) as sb:
        sb.base_url          # /v1/... (classroom.googleapis.com) and /admin/reports/v1/... (admin.googleapis.com)
        sb.token             # the Bearer token of an administrator (Classroom and Reports)
        sb.teacher_token     # Classroom only: the Reports API answers 403 PERMISSION_DENIED
        sb.data              # ClassroomData: courses, course_work[course], submissions[course], usage
        sb.request_log       # [RequestLogEntry(method, path, query, status, started, quota_exceeded)]
        sb.set_quota(5, window_s=0.5); sb.fail_next(2)   # 429 RESOURCE_EXHAUSTED
        sb.mutate("edit_course_work", course_id=..., course_work_id=..., title="New")

Mutations (also ``POST /__sandbox__/mutate {"op": ..., ...}``): add_course_work(course_id, title=, due=,
maxPoints=), edit_course_work(course_id, course_work_id, ...), grade_submission(course_id,
submission_id, points), turn_in(course_id, submission_id), rename_course(course_id, name),
advance_days(days) (more usage dates become available), set_usage(date, email, **values).
Control: ``GET /__sandbox__/health``, ``GET /__sandbox__/log?since=N``, ``POST /__sandbox__/log/clear``,
``POST /__sandbox__/quota {"limit": 5, "window_s": 0.5}``, ``POST /__sandbox__/fail {"count": 2}``.

Command line: ``python -m sandbox.classroom --port 8766``.
"""
from .data import ClassroomData, SandboxError
from .server import ClassroomSandbox, RequestLogEntry

__all__ = ["ClassroomData", "ClassroomSandbox", "RequestLogEntry", "SandboxError"]
