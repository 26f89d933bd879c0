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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from app.models import Course, Submission, SyncBookmark, SyncRun, User
from app.models.types import utcnow
from app.services import canvas_bookmarks, sync_runs
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_bookmarks import can_sync_incrementally, course_label
from app.services.canvas_errors import (CanvasAPIError, InsufficientScope, InvalidToken, ReconnectNeeded,
                                        RunTimeExceeded, Unauthorized)
from app.services.canvas_oauth import save_refreshed_tokens
from app.services.canvas_fetch import (
    CourseData,
    CourseFetcher,
    bounded_map,
    list_courses,
    stream_pool,
)
from app.services.canvas_planner import CanvasPlanner
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
    term_row,
)
from app.services.live_progress import LiveProgress, live_progress_for
from app.services.page_stream import PageStream, gathered
from app.services.stream_writer import mark_deleted, write_pages, write_stream
from app.services.sync_result import SyncResult
from app.services.upsert import prepared_upsert

log = logging.getLogger(__name__)


# Canvas's *_since filters compare Canvas's clock with ours: re-read a margin.
SINCE_OVERLAP = timedelta(minutes=5)
# Rows of a course read ahead of its write on SQLite (see _write_course): ~10 MB of rows.
SQLITE_GATHER_ROWS = 20_000
# Errors that end the whole run at once (every course would meet them).
FATAL_ERRORS = (InvalidToken, InsufficientScope, RunTimeExceeded)


class CanvasSyncService:
    def __init__(self, session: Session, api: CanvasAPIService, user: User, *, course_workers: int = 4,
                 on_progress: Callable[[SyncRun], None] | None = None,
                 max_run_s: float | None = None, live_progress: LiveProgress | None = None):
        self.session = session
        self.max_run_s = max_run_s
        self.api = api
        self.user = user
        self.course_workers = course_workers
        self.on_progress = on_progress
        self.live_progress = live_progress  # rows written inside the course being written
        self._on_page: Callable[[int], None] | None = None
        self._page_streams: list[PageStream] = []  # of the run in progress, closed when it ends
        self._stream_pool: ThreadPoolExecutor | None = None  # the run's fetching threads

    # -- public API ------------------------------------------------------------------

    def sync_all_data(self, use_incremental: bool = False, *, trigger: str = "shell",
                      run: SyncRun | None = None) -> SyncResult:
        """Sync every course of the user. Incremental runs need an earlier sync of the course list;
        each course is then fetched from its own bookmark (fully when it has none, or when its
        last attempt failed).

        `run` is a run already started (and holding the user's lock) by a runner.
        """
        kind = "incremental" if use_incremental and can_sync_incrementally(self.session, self.user) else "full"
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
        self.api.stats.limit_run(self.max_run_s)
        log.info("event=sync_start user_id=%s run_id=%s kind=%s trigger=%s", self.user.id, run.id, kind, trigger)
        try:
            try:
                self._sync(run, result, incremental=kind == "incremental", only_course=only_course)
            finally:
                for stream in self._page_streams:  # courses given up or a run cut short: their fetchers stop
                    stream.close()
                self._page_streams.clear()
                if self._stream_pool is not None:  # its threads end at their next page
                    self._stream_pool.shutdown(wait=False, cancel_futures=True)
                    self._stream_pool = None
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
        save_refreshed_tokens(self.user, getattr(self.api, "token_source", None))
        sync_runs.finish_run(self.session, run, status=result.status, counts=result.as_dict(), stats=stats,
                             error=result.error)
        if self.live_progress is not None:
            self.live_progress.finish(run.id)
        self._notify(run)
        log.info("event=sync_end user_id=%s run_id=%s %s", self.user.id, run.id, result.summary())
        return result

    @staticmethod
    def _plain(exc: CanvasAPIError) -> str:
        if isinstance(exc, ReconnectNeeded):
            return str(exc)
        if isinstance(exc, (InvalidToken, InsufficientScope)):
            return f"{exc} Update it in Settings."
        return str(exc)

    def _sync(self, run: SyncRun, result: SyncResult, *, incremental: bool, only_course: int | None) -> None:
        now = utcnow()
        # Submission rows are built into driver parameters by the fetching threads (CourseFetcher).
        self._submissions = prepared_upsert(self.session.get_bind().dialect, Submission, SUBMISSION_COLUMNS,
                                            SUBMISSIONS.key, ("first_seen_at",), SUBMISSION_OPEN_COLUMNS)
        if self.user.canvas_user_id is None:
            self.user.canvas_user_id = self.api.get_self().get("id")
        known = canvas_bookmarks.known_courses(self.session, self.user.id)
        if only_course is not None:
            try:
                listed = [self.api.get_course(only_course, include_scores=True)]
            except Unauthorized:
                listed = [{"id": only_course, "access_restricted_by_date": True}]
        else:
            listed = list_courses(self.api)
        # A bare stub: Canvas lists the course but the user may not open it (concluded or
        # date-restricted). Its last copy stays as it is, flagged; nothing inside is fetched.
        courses = [c for c in listed if not c.get("access_restricted_by_date")]
        for stub in (c for c in listed if c.get("access_restricted_by_date")):
            self._course_inaccessible(result, stub, known, Course.RESTRICTED, now)
        term_ids = self._write_terms(courses, result, now)
        bookmarks = canvas_bookmarks.course_bookmarks(self.session, self.user.id) if incremental else {}
        run.progress_total = len(courses)
        # The counts so far (the terms), so the live table is never empty while the first course loads.
        run.counts_json = json.dumps(result.as_dict())
        self.session.commit()
        self._notify(run)

        known_assignments = canvas_bookmarks.assignment_hashes(self.session, self.user.id) if incremental else {}
        self._stream_pool = stream_pool(self.course_workers)  # shut down by _run
        fetcher = CourseFetcher(self.api, self._submissions, now, page_streams=self._page_streams,
                                stream_pool=self._stream_pool)

        def since_for(course: dict) -> datetime | None:
            """The course's own bookmark, or None (a full fetch) when it has none or last failed."""
            local = known.get(course["id"])
            if local is None or local.deleted_at is not None:
                return None
            return sync_runs.since_with_overlap(bookmarks.get(course["id"]), SINCE_OVERLAP)

        def fetch(course: dict) -> CourseData:
            since = since_for(course)
            return fetcher.fetch_course(course, since, known_assignments.get(course["id"], {}) if since else {})

        done = 0
        with ThreadPoolExecutor(self.course_workers, thread_name_prefix="canvas-course") as pool:
            for course, outcome in bounded_map(pool, fetch, courses, window=self.course_workers + 1):
                done += 1
                name = course_label(course, known)
                t_write = time.monotonic()
                if isinstance(outcome, FATAL_ERRORS):
                    raise outcome
                if isinstance(outcome, Unauthorized):
                    self._course_inaccessible(result, course, known, Course.UNAUTHORIZED, now)
                elif isinstance(outcome, BaseException):
                    self._course_failed(result, course, known, outcome)
                else:
                    try:
                        self._start_live_course(run, course, known)
                        self._write_course(outcome, result, term_ids, now)
                        canvas_bookmarks.course_synced(self.session, self.user.id, course, known, run.started_at, now)
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
            canvas_bookmarks.set_bookmark(self.session, self.user.id, SyncBookmark.COURSE_LIST, "", run.started_at, now)
            self.session.commit()
            # The user's own planner state, its own small step and never fatal: done marks on every
            # run, the profile's zone on full runs (and until the profile has answered once).
            planner = CanvasPlanner(self.session, self.api, self.user)
            planner.pull(now, profile=planner.profile_due(full=not incremental))
            self.session.commit()

    # -- course states (calling thread) ------------------------------------------------

    def _course_inaccessible(self, result: SyncResult, course: dict, known: dict, state: str,
                             now: datetime) -> None:
        """Keep the last copy as it is and say why it is not current; never a failure."""
        cid = course.get("id")
        local = known.get(cid)
        log.info("event=course_inaccessible user_id=%s course_id=%s state=%s kept=%s", self.user.id, cid, state,
                 local is not None)
        result.inaccessible.append({"course_id": cid, "course": course_label(course, known), "state": state})
        if local is None:
            return  # never synced: there is no copy to keep
        canvas_bookmarks.mark_inaccessible(self.session, self.user.id, local, cid, state, now)

    # -- writing (calling thread, one transaction per course) ------------------------

    def _write_terms(self, courses: list[dict], result: SyncResult, now: datetime) -> dict[int, int]:
        terms = {c["term"]["id"]: c["term"] for c in courses if isinstance(c.get("term"), dict) and c["term"].get("id")}
        rows = [term_row(t, user_id=self.user.id, now=now) for t in terms.values()]
        counts, ids = write_stream(self.session, TERMS, self.user.id, rows, now=now, complete=False)
        result.counts["terms"].add(counts)
        return ids

    def _write_course(self, data: CourseData, result: SyncResult, term_ids: dict[int, int], now: datetime) -> None:
        if self.session.get_bind().dialect.name == "sqlite":
            # SQLite admits one writing transaction at a time and the course's starts at its first
            # write: with the course's pages read first, the lock is held for the writing only, so a
            # second worker's sync and the web app's own writes are not kept waiting while the
            # pages arrive. Past SQLITE_GATHER_ROWS the rest is written as it comes (bounded memory).
            data.submissions = gathered(data.submissions, SQLITE_GATHER_ROWS)
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
            complete=data.complete_submissions, fresh=fresh, on_page=self._on_page)
        if assignment_counts.deleted and not data.complete_submissions:
            # Submissions of assignments gone upstream go with them.
            live = {a["canvas_assignment_id"] for a in assignments}
            submission_counts.deleted += self.session.execute(
                update(Submission)
                .where(Submission.course_id == local_course, Submission.deleted_at.is_(None),
                       Submission.canvas_assignment_id.not_in(live) if live else true())
                .values(deleted_at=now)
            ).rowcount
        if not data.complete_submissions:
            # Only changed submissions were asked for (graded_since/submitted_since): the rest of the
            # course's live submissions are unchanged, though no page carried them.
            live = self.session.scalar(select(func.count()).select_from(Submission).where(
                Submission.course_id == local_course, Submission.deleted_at.is_(None))) or 0
            submission_counts.unchanged = max(
                submission_counts.unchanged, live - submission_counts.created - submission_counts.updated)
        for entity, c in (("courses", counts), ("grade_categories", group_counts), ("assignments", assignment_counts),
                          ("submissions", submission_counts)):
            result.counts[entity].add(c)

    def _course_failed(self, result: SyncResult, course: dict, known: dict, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, CanvasAPIError) else f"unexpected {type(exc).__name__}"
        log.warning("event=course_failed course_id=%s error=%r", course.get("id"), message)
        result.course_errors.append({"course_id": course.get("id"), "course": course_label(course, known),
                                     "error": message})
        # Its rows were rolled back and its bookmark did not move; the next run fetches it fully.
        canvas_bookmarks.needs_full(self.session, self.user.id, course.get("id"))

    def _start_live_course(self, run: SyncRun, course: dict, known: dict) -> None:
        """Count this course's rows as they are written; expect as many as it held last time."""
        if self.live_progress is None:
            return
        local = known.get(course.get("id"))
        expected = self.session.scalar(select(func.count()).select_from(Submission).where(
            Submission.course_id == local.id, Submission.deleted_at.is_(None))) if local is not None else 0
        self.live_progress.start_course(run.id, expected or 0)
        live, run_id = self.live_progress, run.id
        self._on_page = lambda rows: live.rows_written(run_id, rows)

    def _notify(self, run: SyncRun) -> None:
        if self.on_progress:
            self.on_progress(run)


def create_canvas_sync_service(user: User, *, session: Session | None = None, **kwargs) -> CanvasSyncService:
    """The sync service for a user, configured from the app (for `flask shell` and the runners)."""
    from app.extensions import db

    config = current_app.config
    api = CanvasAPIService.for_user(user, timeout=config["CANVAS_TIMEOUT_S"], max_retries=config["CANVAS_MAX_RETRIES"],
                                    per_page=config["CANVAS_PER_PAGE"])
    kwargs.setdefault("course_workers", config["SYNC_COURSE_WORKERS"])
    kwargs.setdefault("max_run_s", config.get("SYNC_MAX_RUN_SECONDS"))
    kwargs.setdefault("live_progress", live_progress_for(current_app._get_current_object()))
    return CanvasSyncService(session or db.session, api, user, **kwargs)
