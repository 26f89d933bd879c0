"""Who may link a course to a Discourse category: an admin, or a teacher or TA of the course.

The category's topics are read and written with the deployment's Discourse admin key, so
linking one opens a whole forum: a student (or anyone whose own copy of a course it is)
must not be able to claim it. Canvas is asked at the moment of linking, with the course
owner's own token, which enrollment they hold in that course; nothing stored is trusted.
"""
from __future__ import annotations

from app.models import Course, User
from app.models.canvas import CANVAS
from app.services.canvas_api_service import CanvasAPIError, CanvasAPIService

# Canvas's base enrollment types of the people who run a course (custom roles keep their base type).
TEACHING_TYPES = frozenset({"teacher", "ta"})
TEACHING_ROLES = frozenset({"TeacherEnrollment", "TaEnrollment"})
CHECK_TIMEOUT_S = 10.0


class LinkRefused(Exception):
    """str() is the plain sentence shown to the person."""


def teaches(enrollments: list | None) -> bool:
    """True when one of the caller's active enrollments in the course is a teacher's or a TA's."""
    for enrollment in enrollments or []:
        if not isinstance(enrollment, dict) or enrollment.get("enrollment_state", "active") != "active":
            continue
        if enrollment.get("type") in TEACHING_TYPES or enrollment.get("role") in TEACHING_ROLES:
            return True
    return False


def check_may_link(user: User, course: Course, api: CanvasAPIService | None = None) -> None:
    """Raise LinkRefused unless `user` may link `course` to a category."""
    if user.is_admin:
        return
    if course.user_id != user.id or (course.source_system or CANVAS) != CANVAS or not user.has_canvas:
        raise LinkRefused("Only a teacher or TA of this Canvas course (or an admin) can link it to a category.")
    own_api = api is None
    if own_api:
        api = CanvasAPIService.for_user(user, timeout=CHECK_TIMEOUT_S, connect_timeout=5.0, max_retries=1,
                                        backoff_factor=0.2, page_workers=1)
    try:
        found = api.get_course(course.canvas_course_id, include_term=False)
    except CanvasAPIError as exc:
        raise LinkRefused(f"Canvas could not confirm that you teach this course: {exc}") from None
    finally:
        if own_api:
            api.close()
    if not teaches(found.get("enrollments")):
        raise LinkRefused("Canvas lists you as neither a teacher nor a TA of this course: ask one of them "
                          "(or an admin) to link it to a category.")
