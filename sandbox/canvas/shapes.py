"""JSON shapes as Canvas sends them (lib/api/v1/*.rb in canvas-lms).

Integer ids, ISO 8601 ``Z`` times, no ``updated_at`` on courses or submissions,
``term`` nested only when asked for.
"""
from __future__ import annotations

import html
import re

from .data import SELF_USER_ID, CanvasData
from .scores import student_scores


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def user_json(user: dict, include_email: bool = False) -> dict:
    out = {
        "id": user["id"], "name": user["name"], "created_at": user["created_at"],
        "sortable_name": user["sortable_name"], "short_name": user["short_name"],
        "sis_user_id": user.get("sis_user_id"), "integration_id": user.get("integration_id"),
        "login_id": user.get("login_id"),
    }
    if include_email and user.get("email"):
        out["email"] = user["email"]
    return out


def self_json(data: CanvasData, user_id: int = SELF_USER_ID) -> dict:
    if user_id != SELF_USER_ID:  # a student's own token
        u = data.students[data.student_index(user_id)]
        return {
            "id": u["id"], "name": u["name"], "created_at": u["created_at"], "sortable_name": u["sortable_name"],
            "short_name": u["short_name"], "avatar_url": u["avatar_url"], "last_name": u["last_name"],
            "first_name": u["first_name"], "locale": None, "effective_locale": "en",
            "permissions": {"can_update_name": True, "can_update_avatar": True,
                            "limit_parent_app_web_access": False},
        }
    u = data.self_user
    return {
        "id": u["id"], "name": u["name"], "created_at": u["created_at"], "sortable_name": u["sortable_name"],
        "short_name": u["short_name"], "avatar_url": u["avatar_url"], "last_name": u["last_name"],
        "first_name": u["first_name"], "locale": u["locale"], "effective_locale": u["effective_locale"],
        "permissions": {"can_update_name": True, "can_update_avatar": True,
                        "limit_parent_app_web_access": False},
    }


def profile_json(data: CanvasData, user_id: int = SELF_USER_ID) -> dict:
    """users/self/profile; students keep Canvas's default zone here (the account's), the teacher's own is set."""
    me = self_json(data, user_id)
    u = data.self_user if user_id == SELF_USER_ID else data.students[data.student_index(user_id)]
    return {
        "id": me["id"], "name": me["name"], "short_name": me["short_name"], "sortable_name": me["sortable_name"],
        "title": None, "bio": u.get("bio"), "pronunciation": None, "primary_email": u.get("email"),
        "login_id": u.get("login_id"), "integration_id": None, "time_zone": u.get("time_zone", "America/Denver"),
        "locale": me["locale"], "effective_locale": me["effective_locale"], "avatar_url": me["avatar_url"],
        "calendar": {"ics": f"{data.base_url}/feeds/calendars/user_{me['id']}.ics"},
        "lti_user_id": None, "k5_user": False, "use_classic_font_in_k5": False,
    }


def assignment_page_html(course: dict, a: dict) -> str:
    esc = html.escape
    due = esc(a.get("due_at") or "no due date")
    points = "" if a.get("points_possible") is None else f"<p>Points: {esc(str(a['points_possible']))}</p>"
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(a['name'])}: {esc(course['name'])}</title></head><body>"
            f"<p>{esc(course['name'])} (sandbox Canvas)</p><h1>{esc(a['name'])}</h1>"
            f"<p>Due: <time datetime=\"{due}\">{due}</time></p>{points}"
            f"<p>{esc(re.sub(r'<[^>]+>', ' ', a.get('description') or '').strip())}</p></body></html>")


def term_json(term: dict) -> dict:
    return {k: term[k] for k in ("id", "name", "start_at", "end_at", "created_at", "workflow_state",
                                 "grading_period_group_id")}


def restricted_course_json(course: dict) -> dict:
    """What Canvas lists for a course the user may not open (Api::V1::Course#course_json)."""
    return {"id": course["id"], "access_restricted_by_date": True}


def _enrollment_json(data: CanvasData, cid: int, user_id: int, includes: set[str]) -> dict:
    if user_id == SELF_USER_ID:
        return {"type": "teacher", "role": "TeacherEnrollment", "role_id": 4, "user_id": SELF_USER_ID,
                "enrollment_state": data.enrollment_state(cid), "limit_privileges_to_course_section": False}
    out = {"type": "student", "role": "StudentEnrollment", "role_id": 3, "user_id": user_id,
           "enrollment_state": data.enrollment_state(cid), "limit_privileges_to_course_section": False}
    if "total_scores" in includes:  # only on student enrollments, and only when final grades are not hidden
        out.update(student_scores(data, cid, user_id))
    return out


def course_json(data: CanvasData, course: dict, includes: set[str], base_url: str,
                user_id: int = SELF_USER_ID) -> dict:
    cid = course["id"]
    out = {
        "id": cid, "name": course["name"], "account_id": 1, "uuid": course["uuid"],
        "start_at": course["start_at"], "grading_standard_id": None, "is_public": False,
        "created_at": course["created_at"], "course_code": course["course_code"],
        "default_view": course["default_view"], "root_account_id": 1,
        "enrollment_term_id": course["enrollment_term_id"], "license": "private",
        "grade_passback_setting": None, "end_at": course["end_at"], "public_syllabus": False,
        "public_syllabus_to_auth": False, "storage_quota_mb": 500, "is_public_to_auth_users": False,
        "homeroom_course": False, "course_color": None, "friendly_name": None,
        "apply_assignment_group_weights": course["apply_assignment_group_weights"],
        "calendar": {"ics": f"{base_url}/feeds/calendars/course_{course['uuid']}.ics"},
        "time_zone": course["time_zone"], "blueprint": False, "template": False,
        "enrollments": [_enrollment_json(data, cid, user_id, includes)],
        "hide_final_grades": False, "workflow_state": course["workflow_state"],
        "restrict_enrollments_to_course_dates": False,
    }
    if "term" in includes:
        out["term"] = term_json(data.terms[course["enrollment_term_id"]])
    if "concluded" in includes:
        out["concluded"] = data.enrollment_state(cid) == "completed"
    return out


def group_json(group: dict) -> dict:
    return {k: group[k] for k in ("id", "name", "position", "group_weight", "sis_source_id",
                                  "integration_data", "rules")}


# Sent only to users who may manage grades / read SIS data (lib/api/v1/assignment.rb).
GRADER_ONLY_FIELDS = ("needs_grading_count", "sis_assignment_id", "integration_id", "integration_data")


def assignment_json(data: CanvasData, a: dict, base_url: str, as_student: bool = False) -> dict:
    out = _assignment_json(data, a, base_url)
    if as_student:
        for key in GRADER_ONLY_FIELDS:
            del out[key]
    return out


def _assignment_json(data: CanvasData, a: dict, base_url: str) -> dict:
    aid, cid = a["id"], a["course_id"]
    submitted, graded = data.has_submissions(aid)
    return {
        "id": aid, "description": a["description"], "due_at": a["due_at"], "unlock_at": a["unlock_at"],
        "lock_at": a["lock_at"], "points_possible": a["points_possible"], "grading_type": a["grading_type"],
        "assignment_group_id": a["assignment_group_id"], "grading_standard_id": None,
        "created_at": a["created_at"], "updated_at": a["updated_at"], "peer_reviews": False,
        "automatic_peer_reviews": False, "position": a["position"], "grade_group_students_individually": False,
        "anonymous_peer_reviews": False, "group_category_id": None, "post_to_sis": False,
        "moderated_grading": False, "omit_from_final_grade": False, "intra_group_peer_reviews": False,
        "anonymous_instructor_annotations": False, "anonymous_grading": False,
        "graders_anonymous_to_graders": False, "grader_count": 0, "grader_comments_visible_to_graders": True,
        "final_grader_id": None, "grader_names_visible_to_final_grader": True, "allowed_attempts": -1,
        "annotatable_attachment_id": None, "hide_in_gradebook": False, "secure_params": f"sandbox.{aid}",
        "lti_context_id": f"sandbox-assignment-{aid}", "course_id": cid, "name": a["name"],
        "submission_types": list(a["submission_types"]), "has_submitted_submissions": submitted,
        "due_date_required": False, "max_name_length": 255, "in_closed_grading_period": False,
        "graded_submissions_exist": graded, "is_quiz_assignment": False, "can_duplicate": True,
        "original_course_id": None, "original_assignment_id": None, "original_lti_resource_link_id": None,
        "original_assignment_name": None, "original_quiz_id": None,
        "workflow_state": "published" if a["published"] else "unpublished", "important_dates": False,
        "muted": False, "html_url": f"{base_url}/courses/{cid}/assignments/{aid}", "has_overrides": False,
        "needs_grading_count": data.needs_grading_count(aid), "sis_assignment_id": None,
        "integration_id": None, "integration_data": {}, "published": a["published"],
        "unpublishable": not submitted, "only_visible_to_overrides": False, "visible_to_everyone": True,
        "locked_for_user": False,
        "submissions_download_url": f"{base_url}/courses/{cid}/assignments/{aid}/submissions?zip=1",
        "post_manually": False, "anonymize_students": False, "require_lockdown_browser": False,
        "restrict_quantitative_data": False,
    }


def author_json(data: CanvasData, user_id: int, base_url: str, course_id: int) -> dict:
    if user_id == SELF_USER_ID:
        user = data.self_user
    else:
        idx = data.student_index(user_id)
        user = data.students[idx] if idx is not None else {"id": user_id, "short_name": "Unknown",
                                                           "avatar_url": None}
    return {
        "id": user["id"], "anonymous_id": format(user["id"], "x"), "display_name": user["short_name"],
        "avatar_image_url": user.get("avatar_url"),
        "html_url": f"{base_url}/courses/{course_id}/users/{user['id']}", "pronouns": None,
    }


def topic_json(data: CanvasData, t: dict, base_url: str) -> dict:
    cid, tid = t["course_id"], t["id"]
    entries = data.topic_entries(tid)
    return {
        "id": tid, "title": t["title"], "last_reply_at": t["last_reply_at"], "created_at": t["created_at"],
        "delayed_post_at": t["delayed_post_at"], "posted_at": t["posted_at"],
        "assignment_id": t["assignment_id"], "root_topic_id": None, "position": None,
        "podcast_has_student_posts": False, "discussion_type": t["discussion_type"], "lock_at": t["lock_at"],
        "allow_rating": False, "only_graders_can_rate": False, "sort_by_rating": False,
        "is_section_specific": False, "anonymous_state": None, "user_name": author_json(
            data, t["user_id"], base_url, cid)["display_name"],
        "discussion_subentry_count": len(entries), "permissions": {"attach": True, "update": True,
                                                                   "reply": True, "delete": True},
        "require_initial_post": t["require_initial_post"], "user_can_see_posts": True,
        "podcast_url": None, "read_state": "read", "unread_count": 0, "subscribed": True,
        "attachments": [], "published": t["published"], "can_unpublish": not entries,
        "locked": t["locked"], "can_lock": True, "comments_disabled": False,
        "author": author_json(data, t["user_id"], base_url, cid),
        "html_url": f"{base_url}/courses/{cid}/discussion_topics/{tid}",
        "url": f"{base_url}/courses/{cid}/discussion_topics/{tid}", "pinned": t["pinned"],
        "group_category_id": None, "can_group": True, "topic_children": [], "group_topic_children": [],
        "locked_for_user": False, "message": t["message"], "todo_date": None,
    }


def entry_json(data: CanvasData, e: dict, base_url: str, course_id: int) -> dict:
    """Api::V1::DiscussionTopics#serialize_entry: a deleted entry keeps its id and times, says
    ``deleted: true`` and loses its message, author and user_name; ``editor_id`` when someone else edited it."""
    out = {
        "id": e["id"], "parent_id": e["parent_id"], "created_at": e["created_at"],
        "updated_at": e["updated_at"], "rating_count": e["rating_count"], "rating_sum": e["rating_sum"],
        "read_state": "read", "forced_read_state": False,
    }
    if e.get("editor_id") is not None:
        out["editor_id"] = e["editor_id"]
    if e.get("deleted"):
        out["deleted"] = True
        return out
    out.update({"user_id": e["user_id"], "user_name": e["user_name"], "message": e["message"],
                "user": author_json(data, e["user_id"], base_url, course_id)})
    return out
