"""The user's own planner state in Canvas: "done" marks (planner overrides) and the profile's time zone.

Canvas keeps "done" as a planner override per user and plannable (``marked_complete``);
Canvas Flow keeps a PlannerMark per assignment. For Canvas assignments the two are the
same state: marking here writes the override at once (POST, or PUT of the known one),
and a sync reads the user's overrides back from ``planner/overrides`` so a mark set in
Canvas's own planner shows here. Classroom and Schoology have no such thing: their marks
are kept here only.
"""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Assignment, Course, PlannerMark, SyncBookmark, User
from app.models.canvas import CANVAS
from app.models.types import utcnow
from app.services import canvas_bookmarks
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_errors import CanvasAPIError

log = logging.getLogger(__name__)


def valid_zone(name) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def set_local_mark(session: Session, user: User, assignment: Assignment, done: bool,
                   override_id: int | None = None) -> PlannerMark:
    mark = session.scalar(select(PlannerMark).where(PlannerMark.assignment_id == assignment.id))
    if mark is None:
        mark = PlannerMark(user_id=user.id, assignment_id=assignment.id, done=done)
        session.add(mark)
    mark.done = done
    if override_id is not None:
        mark.canvas_override_id = override_id
    mark.updated_at = utcnow()
    return mark


class CanvasPlanner:
    """Reads and writes one user's planner overrides and profile zone through their Canvas client."""

    def __init__(self, session: Session, api: CanvasAPIService, user: User):
        self.session = session
        self.api = api
        self.user = user

    def set_done(self, assignment: Assignment, done: bool) -> PlannerMark:
        """Mark a Canvas assignment done or not in Canvas's planner, then here. Raises CanvasAPIError
        (nothing changes here) when Canvas refuses."""
        mark = self.session.scalar(select(PlannerMark).where(PlannerMark.assignment_id == assignment.id))
        override_id = mark.canvas_override_id if mark else None
        if override_id is None:
            try:
                override = self.api.create_planner_override(assignment.canvas_assignment_id, done)
            except CanvasAPIError as exc:
                if exc.status != 400:
                    raise
                # "taken": an override made in Canvas since the last sync. Find it and update it.
                override_id = self._override_id_of(assignment.canvas_assignment_id)
                if override_id is None:
                    raise
                override = self.api.update_planner_override(override_id, done)
        else:
            override = self.api.update_planner_override(override_id, done)
        return set_local_mark(self.session, self.user, assignment, bool(override.get("marked_complete")),
                              override.get("id"))

    def _override_id_of(self, canvas_assignment_id: int) -> int | None:
        return self._assignment_overrides().get(canvas_assignment_id, {}).get("id")

    def _assignment_overrides(self) -> dict[int, dict]:
        """Canvas assignment id -> the user's active override of it; other plannable types are not
        marks we keep."""
        return {o["plannable_id"]: o for o in self.api.get_planner_overrides()
                if isinstance(o, dict) and o.get("plannable_type") == "assignment"
                and isinstance(o.get("plannable_id"), int)}

    def profile_due(self, full: bool) -> bool:
        """Whether this run reads users/self/profile: on full runs, and on others only while no zone is
        known and the profile was never read (a profile without a zone is asked again on full runs
        only, not on every incremental)."""
        if full:
            return True
        if self.user.time_zone is not None or self.user.time_zone_chosen:
            return False
        return self.session.get(SyncBookmark, (self.user.id, SyncBookmark.PROFILE, "")) is None

    def pull(self, now: datetime | None = None, *, profile: bool = True) -> dict:
        """The sync's planner step: the profile's zone (when ``profile``, unless the user chose one)
        and every override. Returns what changed; a Canvas refusal is logged and skipped, never a
        failed sync."""
        out = {"time_zone": None, "marks": 0}
        try:
            if profile:
                out["time_zone"] = self.pull_time_zone(now)
            out["marks"] = self.pull_overrides()
        except CanvasAPIError as exc:
            log.warning("event=planner_pull_skipped user_id=%s error=%r", self.user.id, str(exc))
        return out

    def pull_time_zone(self, now: datetime | None = None) -> str | None:
        if self.user.time_zone_chosen:
            return None
        zone = valid_zone(self.api.get_profile().get("time_zone"))
        changed = zone if zone and zone != self.user.time_zone else None
        if changed:
            self.user.time_zone = zone
            # The user row's write lock before the bookmark's foreign-key check (a shared lock on
            # it): the other order deadlocks against a request updating the user on MariaDB.
            self.session.flush()
        # The profile answered (with or without a zone): remembered so that incremental runs stop asking.
        now = now or utcnow()
        canvas_bookmarks.set_bookmark(self.session, self.user.id, SyncBookmark.PROFILE, "", now, now)
        return changed

    def pull_overrides(self) -> int:
        """Make ``planner_mark`` match the user's overrides. A published local assignment without an
        active override is not done (the override was deleted, or never made); an unpublished one
        keeps its mark, since Canvas lists no override of an unpublished plannable."""
        overrides = self._assignment_overrides()
        ours = {cid: (local_id, published) for cid, local_id, published in self.session.execute(
            select(Assignment.canvas_assignment_id, Assignment.id, Assignment.published)
            .join(Course, Course.id == Assignment.course_id)
            .where(Course.user_id == self.user.id, Course.source_system == CANVAS,
                   Assignment.deleted_at.is_(None))).all()}
        by_local = {local_id: (cid, published) for cid, (local_id, published) in ours.items()}
        marks = {m.assignment_id: m for m in self.session.scalars(
            select(PlannerMark).where(PlannerMark.user_id == self.user.id))}
        changed = 0
        for cid, override in overrides.items():
            if cid not in ours:
                continue  # an assignment we do not have (another course, or deleted)
            local_id = ours[cid][0]
            done = bool(override.get("marked_complete"))
            mark = marks.get(local_id)
            if mark is None and not done:
                continue
            if mark is None:
                mark = PlannerMark(user_id=self.user.id, assignment_id=local_id, done=done)
                self.session.add(mark)
            if mark.done != done or mark.canvas_override_id != override.get("id"):
                mark.done, mark.canvas_override_id, mark.updated_at = done, override.get("id"), utcnow()
                changed += 1
        for local_id, mark in marks.items():
            cid, published = by_local.get(local_id, (None, False))
            if cid is None or cid in overrides or not published:
                continue  # not a live Canvas assignment of ours, listed above, or hidden while unpublished
            if mark.done or mark.canvas_override_id is not None:
                mark.done, mark.canvas_override_id, mark.updated_at = False, None, utcnow()
                changed += 1
        return changed
