"""Who may link a course to a Discourse category (an admin, or a teacher or TA of the course), and who
may edit which post (Canvas's rules: your own posts; a teacher or TA of the course any post in it).

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


def _own_canvas_course(user: User, course: Course) -> bool:
    return course.user_id == user.id and (course.source_system or CANVAS) == CANVAS and user.has_canvas


def canvas_enrollments(user: User, course: Course, api: CanvasAPIService | None = None) -> list:
    """The user's enrollments in the course as Canvas lists them now (CanvasAPIError when it cannot say)."""
    own_api = api is None
    if own_api:
        api = CanvasAPIService.for_user(user, timeout=CHECK_TIMEOUT_S, connect_timeout=5.0, max_retries=1,
                                        backoff_factor=0.2, page_workers=1)
    try:
        return api.get_course(course.canvas_course_id, include_term=False).get("enrollments") or []
    finally:
        if own_api:
            api.close()


def check_may_link(user: User, course: Course, api: CanvasAPIService | None = None) -> None:
    """Raise LinkRefused unless `user` may link `course` to a category."""
    if user.is_admin:
        return
    if not _own_canvas_course(user, course):
        raise LinkRefused("Only a teacher or TA of this Canvas course (or an admin) can link it to a category.")
    try:
        enrollments = canvas_enrollments(user, course, api)
    except CanvasAPIError as exc:
        raise LinkRefused(f"Canvas could not confirm that you teach this course: {exc}") from None
    if not teaches(enrollments):
        raise LinkRefused("Canvas lists you as neither a teacher nor a TA of this course: ask one of them "
                          "(or an admin) to link it to a category.")


class EditRights:
    """Which posts of a course `user` may edit: their own (written here by them), and as a teacher or TA
    of the course in Canvas any post in it. Only the course's owner writes on its page at all.

    Canvas is asked at most once per instance, and only when a post written by someone else comes up.
    """

    def __init__(self, user: User, course: Course, api: CanvasAPIService | None = None):
        self.user = user
        self.course = course
        self.api = api
        self._teaches: bool | None = None

    def teaches_course(self) -> bool:
        if self._teaches is None:
            self._teaches = False
            if _own_canvas_course(self.user, self.course):
                try:
                    self._teaches = teaches(canvas_enrollments(self.user, self.course, self.api))
                except CanvasAPIError:
                    pass  # Canvas cannot say: own posts only, until it can
        return self._teaches

    def may_edit(self, entity) -> bool:
        """`entity`: a DiscussionTopic/DiscussionPost or its ThreadTopic/ThreadPost."""
        if self.course.user_id != self.user.id:
            return False
        if entity.author_user_id is not None and entity.author_user_id == self.user.id:
            return True
        return self.teaches_course()
