"""Fetching a user's Canvas courses (worker threads; no database access here).

A course's structure comes in one call; its submissions in parallel streams of pages
(PageStream) that the writer consumes as they arrive.
"""
from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_errors import Forbidden
from app.services.canvas_streams import raw_and_hash, submission_page
from app.services.page_stream import PageStream
from app.services.upsert import PreparedUpsert

# A full sync walks bookmark pages one at a time per stream: split a course's
# submissions by assignment into streams of ~ASSIGNMENTS_PER_STREAM so that the courses
# in flight keep the throttle's ~11 request slots busy (benchmark: 4 streams of 25
# left half the slots idle; 6 of 8 kept ~5 busy, 12 of 4 ~8: see NOTES, issue 9).
ASSIGNMENTS_PER_STREAM = 4
MAX_SUBMISSION_STREAMS = 12
# Pages of a course waiting for the writer (each ~100 submissions) before its fetchers
# wait: deep enough that the courses after the one being written keep fetching (8 left
# the writer waiting 9 of 12 s), bounded so memory does not grow with course size.
PAGES_IN_FLIGHT = 32


@dataclass
class CourseData:
    course: dict
    groups: list[dict]
    submissions: Iterable[list[dict]]  # pages, a PageStream while fetching goes on
    complete_submissions: bool


def list_courses(api: CanvasAPIService) -> list[dict]:
    """Current courses and concluded ones (Canvas leaves concluded out by default).

    A full course object wins over a restricted stub of the same id. total_scores puts
    a student's own current score on their enrollment (nothing for a teacher)."""
    courses: dict[int, dict] = {}
    for state in (None, "completed"):
        for course in api.get_courses(include_term=True, enrollment_state=state, include_scores=True):
            if course["id"] not in courses or courses[course["id"]].get("access_restricted_by_date"):
                courses[course["id"]] = course
    return list(courses.values())


class CourseFetcher:
    """Fetches courses of one run; its PageStreams go into `page_streams` (the run closes them)."""

    def __init__(self, api: CanvasAPIService, submissions: PreparedUpsert, now: datetime, *,
                 page_streams: list[PageStream], stream_pool: ThreadPoolExecutor):
        self.api = api
        self.submissions = submissions  # rows become its driver parameters in the fetching threads
        self.now = now
        self.page_streams = page_streams
        # The run's fetching threads, reused course after course (see stream_pool()).
        self.stream_pool = stream_pool

    def fetch_course(self, course: dict, since: datetime | None, known_assignments: dict[int, str]) -> CourseData:
        course_id = course["id"]
        groups = self.api.get_assignment_groups(course_id, include_assignments=True)
        assignments = [a for g in groups for a in g.get("assignments") or []]
        # Only published assignments have submissions in the bulk endpoint, and Canvas
        # answers 403 "invalid assignment ids requested" when assignment_ids[] names
        # an unpublished one: split by published ids only.
        assignment_ids = [a["id"] for a in assignments if a.get("published", True)]
        if not assignment_ids:
            return CourseData(course, groups, [], complete_submissions=True)
        # Without needs_grading_count the caller may not manage grades (a student, an
        # observer): Canvas lists only the submissions they may see, a few per assignment.
        # Read them whole in one call: complete (deletions seen), no *_since needed, and
        # no change can hide behind an assignment JSON that does not move on a submission.
        own_view = not any("needs_grading_count" in a for a in assignments)
        if own_view:
            calls = [{}]
        elif since is not None:
            # Canvas ANDs graded_since and submitted_since, so "either changed" takes
            # two calls. New submissions show in the assignments' needs_grading_count /
            # has_submitted_submissions, so the second call is made only when an
            # assignment changed (or when Canvas does not send those fields).
            calls = [dict(graded_since=since)]
            if _may_have_new_submissions(assignments, known_assignments):
                calls.append(dict(submitted_since=since))
        else:
            # One bulk call walks bookmark pages one at a time; split it by assignment
            # so no course's chain of sequential pages dominates the run.
            n = min(MAX_SUBMISSION_STREAMS, max(1, len(assignment_ids) // ASSIGNMENTS_PER_STREAM))
            calls = [dict(assignment_ids=assignment_ids[i::n]) if n > 1 else {} for i in range(n)]
        # The pages go to the writer as they arrive (PageStream): the course's data is
        # never whole in memory. The threads end when their call does or the writer closes.
        pages = PageStream(producers=len(calls), max_pages=PAGES_IN_FLIGHT)
        self.page_streams.append(pages)
        for call in calls:  # at most MAX_SUBMISSION_STREAMS (a full fetch) or two (an incremental)
            self.stream_pool.submit(pages.feed, lambda call=call: self.submission_pages(course_id, call))
        return CourseData(course, groups, pages, complete_submissions=since is None or own_view)

    def submission_pages(self, course_id: int, call: dict):
        pages = self.api.iter_submission_pages(course_id, **call)
        try:
            first = next(pages, None)
        except Forbidden:
            # A student may not list everyone's submissions: fall back to their own.
            pages = self.api.iter_submission_pages(course_id, student_ids=None, **call)
            first = next(pages, None)
        if first is not None:
            # Each page goes as driver parameters: hashing, compressing and converting (a
            # row's whole cost but the upsert) run here, in parallel, not on the writer's thread.
            params, now = self.submissions.params, self.now
            yield [params(values) for values in submission_page(first, now=now)]
            for page in pages:
                yield [params(values) for values in submission_page(page, now=now)]


def stream_pool(course_workers: int) -> ThreadPoolExecutor:
    """The fetching threads of one run, shared by its courses.

    A course's streams must never wait for a thread held by another course's streams (those
    may be blocked until the writer reaches their course): the pool has room for every stream
    of every course that can be live at once (the courses being fetched, those waiting for the
    writer, and the one it writes), and makes threads only as they are needed. Reusing them,
    rather than new threads for every course, keeps each thread's compressor and the process's
    malloc arenas (measured: peak RSS grew with the number of courses, 192 -> 254 MB from 20 to
    2,000 courses, with a new pool per course).
    """
    return ThreadPoolExecutor((course_workers + 2) * MAX_SUBMISSION_STREAMS, thread_name_prefix="canvas-stream")


def _may_have_new_submissions(assignments: list[dict], known: dict[int, str]) -> bool:
    for assignment in assignments:
        if "needs_grading_count" not in assignment and "has_submitted_submissions" not in assignment:
            return True
        if known.get(assignment["id"]) != raw_and_hash(assignment)[1]:
            return True
    return False


def bounded_map(pool: ThreadPoolExecutor, fn, items: list, *, window: int):
    """Yield (item, result or exception) as they finish, keeping at most `window` in flight.

    The window bounds memory: fetched courses wait for the writer, not pile up.
    """
    pending: dict[Future, dict] = {}
    queue = iter(items)
    for item in queue:
        pending[pool.submit(fn, item)] = item
        if len(pending) >= window:
            break
    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            item = pending.pop(future)
            nxt = next(queue, None)
            if nxt is not None:
                pending[pool.submit(fn, nxt)] = nxt
            try:
                yield item, future.result()
            except Exception as exc:  # handed to the writer, which decides
                yield item, exc
