"""The stored form of a row's raw Canvas JSON: raw DEFLATE with a preset dictionary.

A submission's JSON is ~620 bytes, almost all of it key names and the same few values
(null, false, "graded") that every submission repeats. Per-row DEFLATE alone halves it
(a row is too short for the compressor to learn much); with a preset dictionary that
already holds a typical Canvas submission, assignment, assignment group and course, it
falls to ~70 bytes (measured on the sandbox's data; see docs/NOTES.md). Every row stays
independently readable: no shared state beyond the constant dictionary.

Format: one version byte, then the DEFLATE stream (no zlib header: the version byte
names the dictionary). VERSION 1's dictionary is frozen: stored rows depend on it byte
for byte. A better dictionary is a new version; `unpack` keeps reading the old ones.
"""
from __future__ import annotations

import zlib

VERSION_1 = 1
LEVEL = 6
# Common substrings nearest the end are the cheapest to reference: submissions last.
DICTIONARY_V1 = (
    b'{"apply_assignment_group_weights":false,"course_code":"","default_view":"modules",'
    b'"end_at":null,"enrollment_term_id":1,"enrollments":[{"enrollment_state":"active","role":"TeacherEnrollment",'
    b'"type":"teacher","user_id":1}],"grading_standard_id":null,"hide_final_grades":false,"is_public":false,'
    b'"license":"private","name":"","public_syllabus":false,"start_at":null,"time_zone":"America/Denver",'
    b'"uuid":"","workflow_state":"available"}'
    b'{"group_weight":0.0,"id":1,"integration_data":{},"name":"Assignments","position":1,"rules":{},'
    b'"sis_source_id":null}'
    b'{"allowed_attempts":-1,"allowed_extensions":[],"annotatable_attachment_id":null,"anonymize_students":false,'
    b'"anonymous_grading":false,"anonymous_instructor_annotations":false,"anonymous_peer_reviews":false,'
    b'"assignment_group_id":1,"automatic_peer_reviews":false,"can_duplicate":true,"course_id":1,'
    b'"created_at":"2026-01-01T00:00:00Z","description":"<p></p>","due_at":"2026-01-01T05:59:00Z",'
    b'"due_date_required":false,"final_grader_id":null,"grade_group_students_individually":false,'
    b'"graded_submissions_exist":true,"grader_comments_visible_to_graders":true,"grader_count":0,'
    b'"grader_names_visible_to_final_grader":true,"graders_anonymous_to_graders":false,"grading_standard_id":null,'
    b'"grading_type":"points","group_category_id":null,"has_overrides":false,"has_submitted_submissions":true,'
    b'"hide_in_gradebook":false,"html_url":"https://canvas.instructure.com/courses/1/assignments/1","id":1,'
    b'"important_dates":false,"in_closed_grading_period":false,"integration_data":{},"integration_id":null,'
    b'"intra_group_peer_reviews":false,"is_quiz_assignment":false,"lock_at":null,"locked_for_user":false,'
    b'"lti_context_id":"","max_name_length":255,"moderated_grading":false,"muted":false,"name":"Homework 1",'
    b'"needs_grading_count":0,"omit_from_final_grade":false,"only_visible_to_overrides":false,'
    b'"original_assignment_id":null,"original_assignment_name":null,"original_course_id":null,'
    b'"original_lti_resource_link_id":null,"original_quiz_id":null,"peer_reviews":false,"points_possible":10.0,'
    b'"position":1,"post_manually":false,"post_to_sis":false,"published":true,"require_lockdown_browser":false,'
    b'"restrict_quantitative_data":false,"secure_params":"","sis_assignment_id":null,'
    b'"submission_types":["online_upload","online_text_entry"],"submissions_download_url":"",'
    b'"unlock_at":null,"unpublishable":false,"updated_at":"2026-01-01T00:00:00Z","visible_to_everyone":true,'
    b'"workflow_state":"published"}'
    b'{"assignment_id":1,"attempt":null,"body":null,"cached_due_date":null,"custom_grade_status_id":null,'
    b'"entered_grade":null,"entered_score":null,"excused":false,"extra_attempts":null,"grade":null,'
    b'"grade_matches_current_submission":true,"graded_at":null,"grader_id":null,"grading_period_id":null,"id":1,'
    b'"late":false,"late_policy_status":null,"missing":false,"points_deducted":null,"posted_at":null,'
    b'"redo_request":false,"score":null,"sticker":null,"submission_type":null,"submitted_at":null,"url":null,'
    b'"user_id":1,"workflow_state":"unsubmitted"}'
    b'{"assignment_id":1,"attempt":1,"body":null,"cached_due_date":"2026-01-01T05:59:00Z","custom_grade_status_id":null,'
    b'"entered_grade":"10","entered_score":10.0,"excused":false,"extra_attempts":null,"grade":"10",'
    b'"grade_matches_current_submission":true,"graded_at":"2026-01-01T00:00:00Z","grader_id":1,'
    b'"grading_period_id":null,"id":1,"late":false,"late_policy_status":null,"missing":false,"points_deducted":null,'
    b'"posted_at":"2026-01-01T00:00:00Z","redo_request":false,"score":10.0,"sticker":null,'
    b'"submission_type":"online_upload","submitted_at":"2026-01-01T00:00:00Z","url":null,"user_id":1,'
    b'"workflow_state":"graded"}'
)
_DICTIONARIES = {VERSION_1: DICTIONARY_V1}
# A new compressor zeroes its tables and loads the dictionary (~12 us a row, most of a row's
# cost); a copy of one already primed with it is ~6 us (measured, bench notes). Its 8 KB
# window holds the dictionary and a typical row and its tables are small, so it copies
# fast; rows past SMALL get a full 32 KB window. Either way the stream is plain DEFLATE
# with DICTIONARY_V1, which `unpack` reads with any window.
SMALL = 4096
_PRIMED_V1 = zlib.compressobj(LEVEL, zlib.DEFLATED, -13, 4, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_V1)


def pack(raw: bytes | str | None) -> bytes | None:
    """The stored form of one object's JSON text."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) <= SMALL:
        c = _PRIMED_V1.copy()  # thread-safe: copy() holds the object's lock and leaves it as it was
    else:
        c = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_V1)
    return bytes((VERSION_1,)) + c.compress(raw) + c.flush()


def unpack(blob: bytes | None) -> str | None:
    """The JSON text of a stored form (any version this code knows)."""
    if blob is None:
        return None
    blob = bytes(blob)  # PostgreSQL's driver gives a memoryview
    try:
        dictionary = _DICTIONARIES[blob[0]]
    except (IndexError, KeyError):
        raise ValueError(f"unknown raw JSON format {blob[:1]!r}") from None
    d = zlib.decompressobj(-15, dictionary)
    return (d.decompress(blob[1:]) + d.flush()).decode()
