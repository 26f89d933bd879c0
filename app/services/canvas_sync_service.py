"""CanvasSyncService: one user's Canvas data into the database, fully or incrementally.

Fetching runs in worker threads (courses concurrently; inside a course the structure
call and the submission streams in parallel); writing runs in the calling thread,
one transaction per course, as each course's data arrives. So the database sees one
writer (SQLite's only mode), a failed course rolls back alone, and the run's progress
row is committed together with the course it describes.

    from app.services.canvas_sync_service import create_canvas_sync_service
    result = create_canvas_sync_service(user).sync_all_data(use_incremental=True)
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from app.models import Assignment, Course, Submission, SyncBookmark, SyncRun, User
from app.models.types import utcnow
from app.services import sync_runs
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_errors import CanvasAPIError, Forbidden, InsufficientScope, InvalidToken, Unauthorized
from app.services.canvas_streams import (
    ASSIGNMENTS,
    COURSES,
    GRADE_CATEGORIES,
    SUBMISSION_COLUMNS,
    SUBMISSION_OPEN_COLUMNS,
    SUBMISSIONS,
    TERMS,
    assignment_row,
    course_row,
    group_row,
    raw_and_hash,
    submission_values,
    term_row,
)
from app.services.page_stream import PageStream
from app.services.stream_writer import EntityCounts, mark_deleted, write_pages, write_stream
from app.services.upsert import prepared_upsert, upsert

log = logging.getLogger(__name__)

ENTITIES = ("terms", "courses", "grade_categories", "assignments", "submissions")
# Canvas's *_since filters compare Canvas's clock with ours: re-read a margin.
SINCE_OVERLAP = timedelta(minutes=5)
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
FATAL_ERRORS = (InvalidToken, InsufficientScope)


@dataclass
class SyncResult:
    run_id: int | None
    status: str
    kind: str
    counts: dict[str, EntityCounts] = field(default_factory=lambda: {e: EntityCounts() for e in ENTITIES})
    requests: int = 0
    retries: int = 0
    throttles: int = 0
    bytes: int = 0
    seconds: float = 0.0
    course_errors: list[dict] = field(default_factory=list)
    # Courses Canvas no longer lets the user open (restricted stubs, "unauthorized" answers):
    # kept as last synced, not fetched, not failures.
    inaccessible: list[dict] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    joined: bool = False

    @property
    def ok(self) -> bool:
        return self.status == SyncRun.SUCCEEDED

    def as_dict(self) -> dict:
        return {
            **{entity: self.counts[entity].as_dict() for entity in ENTITIES},
            "requests": self.requests, "retries": self.retries, "throttles": self.throttles, "bytes": self.bytes,
            "seconds": round(self.seconds, 3), "course_errors": self.course_errors, "error_kind": self.error_kind,
            "inaccessible_courses": self.inaccessible,
        }

    def summary(self) -> str:
        parts = [f"{e}: +{c.created} ~{c.updated} ={c.unchanged} -{c.deleted}" for e, c in self.counts.items()]
        closed = f"; {len(self.inaccessible)} no longer open in Canvas" if self.inaccessible else ""
        return (f"{self.kind} sync {self.status} in {self.seconds:.1f}s; {'; '.join(parts)}{closed}; "
                f"requests={self.requests} retries={self.retries} throttles={self.throttles}")


@dataclass
class CourseData:
    course: dict
    groups: list[dict]
    submissions: Iterable[list[dict]]  # pages, a PageStream while fetching goes on
    complete_submissions: bool


class CanvasSyncService:
    def __init__(self, session: Session, api: CanvasAPIService, user: User, *, course_workers: int = 4,
                 stream_workers: int = 12, on_progress: Callable[[SyncRun], None] | None = None):
        self.session = session
        self.api = api
        self.user = user
        self.course_workers = course_workers
        self.stream_workers = stream_workers
        self.on_progress = on_progress
        self._page_streams: list[PageStream] = []  # of the run in progress, closed when it ends

    # -- public API ------------------------------------------------------------------

    def sync_all_data(self, use_incremental: bool = False, *, trigger: str = "shell",
                      run: SyncRun | None = None) -> SyncResult:
        """Sync every course of the user. Incremental runs need an earlier sync of the course list;
        each course is then fetched from its own bookmark (fully when it has none, or when its
        last attempt failed).

        `run` is a run already started (and holding the user's lock) by a runner.
        """
        kind = "incremental" if use_incremental and self._has_bookmark() else "full"
        return self._run(kind, trigger, only_course=None, run=run)

    def sync_course_data(self, course_id: int, *, trigger: str = "shell", run: SyncRun | None = None) -> SyncResult:
        """Fully re-sync one course, given by its Canvas id."""
        return self._run("course", trigger, only_course=course_id, run=run)

    # -- one run ---------------------------------------------------------------------

    def _run(self, kind: str, trigger: str, only_course: int | None, run: SyncRun | None) -> SyncResult:
        started = True
        if run is None:
            run, started = sync_runs.start_run(self.session, self.user.id, trigger=trigger, kind=kind)
        else:
            run.kind = kind
        if not started:
            log.info("event=sync_joined user_id=%s run_id=%s", self.user.id, run.id)
            return SyncResult(run_id=run.id, status=run.status, kind=run.kind, joined=True)
        result = SyncResult(run_id=run.id, status=SyncRun.RUNNING, kind=kind)
        t0 = time.monotonic()
        log.info("event=sync_start user_id=%s run_id=%s kind=%s trigger=%s", self.user.id, run.id, kind, trigger)
        try:
            try:
                self._sync(run, result, incremental=kind == "incremental", only_course=only_course)
            finally:
                for stream in self._page_streams:  # courses given up or a run cut short: their fetchers stop
                    stream.close()
                self._page_streams.clear()
        except FATAL_ERRORS as exc:
            self.session.rollback()
            result.error, result.error_kind = self._plain(exc), exc.kind
        except CanvasAPIError as exc:
            self.session.rollback()
            result.error, result.error_kind = str(exc), exc.kind
        except Exception as exc:  # a bug or a database failure: record it, never leave the run "running"
            self.session.rollback()
            log.exception("event=sync_crash user_id=%s run_id=%s", self.user.id, run.id)
            result.error, result.error_kind = f"The sync failed unexpectedly ({type(exc).__name__}).", "other"
        result.seconds = time.monotonic() - t0
        stats = self.api.stats.as_dict()
        result.requests, result.retries, result.throttles, result.bytes = (
            stats["requests"], stats["retries"], stats["throttles"], stats["bytes"])
        if result.error:
            result.status = SyncRun.FAILED
        elif result.course_errors:
            result.status = SyncRun.PARTIAL
            result.error_kind = "partial"
            result.error = "Some courses could not be synced: " + ", ".join(
                f"{e['course']} ({e['error']})" for e in result.course_errors)
        else:
            result.status = SyncRun.SUCCEEDED
            if kind != "course":
                # The last complete sync (shown to the user); incremental positions are the
                # per-course bookmarks, moved with each course's rows.
                self.user.last_synced_canvas = run.started_at
        sync_runs.finish_run(self.session, run, status=result.status, counts=result.as_dict(), stats=stats,
                             error=result.error)
        self._notify(run)
        log.info("event=sync_end user_id=%s run_id=%s %s", self.user.id, run.id, result.summary())
        return result

    @staticmethod
    def _plain(exc: CanvasAPIError) -> str:
        if isinstance(exc, (InvalidToken, InsufficientScope)):
            return f"{exc} Update it in Settings."
        return str(exc)

    def _sync(self, run: SyncRun, result: SyncResult, *, incremental: bool, only_course: int | None) -> None:
        now = utcnow()
        # Submission rows are built into driver parameters by the fetching threads (_submission_pages).
        self._submissions = prepared_upsert(self.session.get_bind().dialect, Submission, SUBMISSION_COLUMNS,
                                            SUBMISSIONS.key, ("first_seen_at",), SUBMISSION_OPEN_COLUMNS)
        self._now = now
        if self.user.canvas_user_id is None:
            self.user.canvas_user_id = self.api.get_self().get("id")
        known = {cid: _Known(local_id, name, deleted_at, state) for cid, local_id, name, deleted_at, state in
                 self.session.execute(select(Course.canvas_course_id, Course.id, Course.name, Course.deleted_at,
                                             Course.access_state).where(*COURSES.scope(self.user.id)))}
        if only_course is not None:
            try:
                listed = [self.api.get_course(only_course, include_scores=True)]
            except Unauthorized:
                listed = [{"id": only_course, "access_restricted_by_date": True}]
        else:
            listed = self._list_courses()
        # A bare stub: Canvas lists the course but the user may not open it (concluded or
        # date-restricted). Its last copy stays as it is, flagged; nothing inside is fetched.
        courses = [c for c in listed if not c.get("access_restricted_by_date")]
        for stub in (c for c in listed if c.get("access_restricted_by_date")):
            self._course_inaccessible(result, stub, known, Course.RESTRICTED, now)
        term_ids = self._write_terms(courses, result, now)
        bookmarks = self._course_bookmarks() if incremental else {}
        run.progress_total = len(courses)
        self.session.commit()
        self._notify(run)

        known_assignments = self._assignment_hashes() if incremental else {}

        def since_for(course: dict) -> datetime | None:
            """The course's own bookmark, or None (a full fetch) when it has none or last failed."""
            local = known.get(course["id"])
            if local is None or local.deleted_at is not None:
                return None
            return sync_runs.since_with_overlap(bookmarks.get(course["id"]), SINCE_OVERLAP)

        def fetch(course: dict) -> CourseData:
            since = since_for(course)
            return self._fetch_course(course, since, known_assignments.get(course["id"], {}) if since else {})

        done = 0
        with ThreadPoolExecutor(self.course_workers, thread_name_prefix="canvas-course") as pool:
            for course, outcome in _bounded_map(pool, fetch, courses, window=self.course_workers + 1):
                done += 1
                name = _course_name(course, known)
                t_write = time.monotonic()
                if isinstance(outcome, FATAL_ERRORS):
                    raise outcome
                if isinstance(outcome, Unauthorized):
                    self._course_inaccessible(result, course, known, Course.UNAUTHORIZED, now)
                elif isinstance(outcome, BaseException):
                    self._course_failed(result, course, known, outcome)
                else:
                    try:
                        self._write_course(outcome, result, term_ids, now)
                        self._course_synced(course, known, run.started_at, now)
                    except FATAL_ERRORS:
                        raise  # from a submissions page: the token is bad for every course
                    except Unauthorized:  # the enrollment ended while its pages were read
                        self.session.rollback()
                        self._course_inaccessible(result, course, known, Course.UNAUTHORIZED, now)
                    except Exception as exc:
                        self.session.rollback()
                        log.exception("event=course_write_failed course_id=%s", course.get("id"))
                        self._course_failed(result, course, known, exc)
                run.progress_current, run.current_item = done, name[:500]
                run.counts_json = json.dumps(result.as_dict())
                sync_runs.heartbeat(self.session, run)
                self.session.commit()  # the course's rows, its bookmark and the progress row, together
                log.info("event=course_synced run_id=%s user_id=%s course_id=%s phase=write progress=%d/%d "
                         "ok=%s duration_s=%.3f", run.id, self.user.id, course.get("id"), done, len(courses),
                         not isinstance(outcome, BaseException), time.monotonic() - t_write)
                self._notify(run)

        if only_course is None:
            seen = {c["id"] for c in listed}
            gone = [cid for cid, local in known.items() if cid not in seen and local.deleted_at is None]
            result.counts["courses"].deleted += mark_deleted(self.session, COURSES, self.user.id, gone, now=now)
            # The course list was read completely: its own bookmark moves, whatever the courses did.
            self._set_bookmark(SyncBookmark.COURSE_LIST, "", run.started_at, now)
            self.session.commit()

    # -- bookmarks and course states (calling thread) --------------------------------

    def _has_bookmark(self) -> bool:
        return can_sync_incrementally(self.session, self.user)

    def _course_bookmarks(self) -> dict[int, datetime]:
        """{canvas course id: bookmark} of the courses whose next fetch may be incremental."""
        out = {}
        for key, value in self.session.execute(
            select(SyncBookmark.partition_key, SyncBookmark.value).where(
                SyncBookmark.user_id == self.user.id, SyncBookmark.stream == SyncBookmark.COURSE,
                SyncBookmark.needs_full.is_(False), SyncBookmark.value.is_not(None))
        ):
            if key.isdigit():
                out[int(key)] = value
        return out

    def _set_bookmark(self, stream: str, partition: str, value: datetime, now: datetime) -> None:
        upsert(self.session, SyncBookmark, [{"user_id": self.user.id, "stream": stream, "partition_key": partition,
                                             "value": value, "needs_full": False, "updated_at": now}],
               key=("user_id", "stream", "partition_key"))

    def _needs_full(self, canvas_course_id: int) -> None:
        """The course's next fetch is full; its bookmark value stays where it was."""
        self.session.execute(
            update(SyncBookmark).where(SyncBookmark.user_id == self.user.id, SyncBookmark.stream == SyncBookmark.COURSE,
                                       SyncBookmark.partition_key == str(canvas_course_id))
            .values(needs_full=True, updated_at=utcnow()))

    def _course_synced(self, course: dict, known: dict, started_at: datetime, now: datetime) -> None:
        self._set_bookmark(SyncBookmark.COURSE, str(course["id"]), started_at, now)
        local = known.get(course["id"])
        if local is not None and local.access_state is not None:  # open again
            self.session.execute(update(Course).where(Course.id == local.id)
                                 .values(access_state=None, inaccessible_since=None))

    def _course_inaccessible(self, result: SyncResult, course: dict, known: dict, state: str,
                             now: datetime) -> None:
        """Keep the last copy as it is and say why it is not current; never a failure."""
        cid = course.get("id")
        local = known.get(cid)
        log.info("event=course_inaccessible user_id=%s course_id=%s state=%s kept=%s", self.user.id, cid, state,
                 local is not None)
        result.inaccessible.append({"course_id": cid, "course": _course_name(course, known), "state": state})
        if local is None:
            return  # never synced: there is no copy to keep
        self.session.execute(update(Course).where(Course.id == local.id).values(access_state=state, deleted_at=None))
        self.session.execute(update(Course).where(Course.id == local.id, Course.inaccessible_since.is_(None))
                             .values(inaccessible_since=now))
        # When Canvas opens it again, it is fetched in full (what changed meanwhile is unknown).
        self._needs_full(cid)

    # -- fetching (worker threads; no database access here) --------------------------

    def _list_courses(self) -> list[dict]:
        """Current courses and concluded ones (Canvas leaves concluded out by default).

        A full course object wins over a restricted stub of the same id. total_scores puts
        a student's own current score on their enrollment (nothing for a teacher)."""
        courses: dict[int, dict] = {}
        for state in (None, "completed"):
            for course in self.api.get_courses(include_term=True, enrollment_state=state, include_scores=True):
                if course["id"] not in courses or courses[course["id"]].get("access_restricted_by_date"):
                    courses[course["id"]] = course
        return list(courses.values())

    def _assignment_hashes(self) -> dict[int, dict[int, str]]:
        by_course: dict[int, dict[int, str]] = {}
        for course_id, assignment_id, digest in self.session.execute(
            select(Course.canvas_course_id, Assignment.canvas_assignment_id, Assignment.content_hash)
            .join(Course, Assignment.course_id == Course.id)
            .where(*COURSES.scope(self.user.id), Assignment.deleted_at.is_(None))
        ):
            by_course.setdefault(course_id, {})[assignment_id] = digest
        return by_course

    def _fetch_course(self, course: dict, since: datetime | None, known_assignments: dict[int, str]) -> CourseData:
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
        self._page_streams.append(pages)
        pool = ThreadPoolExecutor(min(self.stream_workers, len(calls)), thread_name_prefix="canvas-stream")
        for call in calls:
            pool.submit(pages.feed, lambda call=call: self._submission_pages(course_id, call))
        pool.shutdown(wait=False)
        return CourseData(course, groups, pages, complete_submissions=since is None or own_view)

    def _submission_pages(self, course_id: int, call: dict):
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
            params, now = self._submissions.params, self._now
            yield [params(submission_values(sub, now=now)) for sub in first]
            for page in pages:
                yield [params(submission_values(sub, now=now)) for sub in page]

    # -- writing (calling thread, one transaction per course) ------------------------

    def _write_terms(self, courses: list[dict], result: SyncResult, now: datetime) -> dict[int, int]:
        terms = {c["term"]["id"]: c["term"] for c in courses if isinstance(c.get("term"), dict) and c["term"].get("id")}
        rows = [term_row(t, user_id=self.user.id, now=now) for t in terms.values()]
        counts, ids = write_stream(self.session, TERMS, self.user.id, rows, now=now, complete=False)
        result.counts["terms"].add(counts)
        return ids

    def _write_course(self, data: CourseData, result: SyncResult, term_ids: dict[int, int], now: datetime) -> None:
        course = data.course
        term = course.get("term") if isinstance(course.get("term"), dict) else None
        term_id = term_ids.get(term["id"]) if term else None
        counts, course_ids = write_stream(
            self.session, COURSES, self.user.id,
            [course_row(course, user_id=self.user.id, term_id=term_id, now=now)], now=now, complete=False)
        local_course = course_ids[course["id"]]

        groups = [group_row(g, course_id=local_course, now=now) for g in data.groups]
        fresh = counts.created == 1  # a course new in this transaction has no rows to diff against
        group_counts, group_ids = write_stream(self.session, GRADE_CATEGORIES, local_course, groups, now=now,
                                               complete=True, fresh=fresh)
        assignments = []
        for group in data.groups:
            for a in group.get("assignments") or []:
                assignments.append(assignment_row(a, course_id=local_course, canvas_course_id=course["id"],
                                                  group_ids=group_ids, now=now))
        assignment_counts, assignment_ids = write_stream(self.session, ASSIGNMENTS, local_course, assignments,
                                                         now=now, complete=True, fresh=fresh)
        submission_counts = write_pages(
            self.session, SUBMISSIONS, self._submissions, local_course, data.submissions,
            ("assignment_id", "canvas_assignment_id", assignment_ids), now=now,
            complete=data.complete_submissions, fresh=fresh)
        if assignment_counts.deleted and not data.complete_submissions:
            # Submissions of assignments gone upstream go with them.
            live = {a["canvas_assignment_id"] for a in assignments}
            submission_counts.deleted += self.session.execute(
                update(Submission)
                .where(Submission.course_id == local_course, Submission.deleted_at.is_(None),
                       Submission.canvas_assignment_id.not_in(live) if live else true())
                .values(deleted_at=now)
            ).rowcount
        for entity, c in (("courses", counts), ("grade_categories", group_counts), ("assignments", assignment_counts),
                          ("submissions", submission_counts)):
            result.counts[entity].add(c)

    def _course_failed(self, result: SyncResult, course: dict, known: dict, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, CanvasAPIError) else f"unexpected {type(exc).__name__}"
        log.warning("event=course_failed course_id=%s error=%r", course.get("id"), message)
        result.course_errors.append({"course_id": course.get("id"), "course": _course_name(course, known),
                                     "error": message})
        # Its rows were rolled back and its bookmark did not move; the next run fetches it fully.
        self._needs_full(course.get("id"))

    def _notify(self, run: SyncRun) -> None:
        if self.on_progress:
            self.on_progress(run)


@dataclass(frozen=True)
class _Known:
    """A course as the database has it before the run."""

    id: int
    name: str
    deleted_at: datetime | None
    access_state: str | None


def _course_name(course: dict, known: dict) -> str:
    """Canvas's name, else the name we kept, else the id (a stub carries no name)."""
    if course.get("name"):
        return str(course["name"])
    local = known.get(course.get("id"))
    return local.name if local is not None else f"course {course.get('id')}"


def _may_have_new_submissions(assignments: list[dict], known: dict[int, str]) -> bool:
    for assignment in assignments:
        if "needs_grading_count" not in assignment and "has_submitted_submissions" not in assignment:
            return True
        if known.get(assignment["id"]) != raw_and_hash(assignment)[1]:
            return True
    return False


def _bounded_map(pool: ThreadPoolExecutor, fn, items: list, *, window: int):
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


def can_sync_incrementally(session: Session, user: User) -> bool:
    """An incremental run needs the course list synced once (or a sync from before bookmarks)."""
    if user.last_synced_canvas is not None:
        return True
    return session.scalar(select(func.count()).select_from(SyncBookmark).where(
        SyncBookmark.user_id == user.id, SyncBookmark.stream == SyncBookmark.COURSE_LIST)) > 0


def create_canvas_sync_service(user: User, *, session: Session | None = None, **kwargs) -> CanvasSyncService:
    """The sync service for a user, configured from the app (for `flask shell` and the runners)."""
    from app.extensions import db

    config = current_app.config
    api = CanvasAPIService.for_user(user, timeout=config["CANVAS_TIMEOUT_S"], max_retries=config["CANVAS_MAX_RETRIES"],
                                    per_page=config["CANVAS_PER_PAGE"])
    kwargs.setdefault("course_workers", config["SYNC_COURSE_WORKERS"])
    return CanvasSyncService(session or db.session, api, user, **kwargs)
