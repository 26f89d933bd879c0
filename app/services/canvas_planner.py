"""The user's own planner state in Canvas: "done" marks (planner overrides) and the profile's time zone.

Canvas keeps "done" as a planner override per user and plannable (``marked_complete``);
Canvas Flow keeps a PlannerMark per assignment. For Canvas assignments the two are the
same state: marking here writes the override at once (POST, or PUT of the known one),
and a sync reads every override back from ``planner/items`` so a mark set in Canvas's
own planner shows here. Classroom and Schoology have no such thing: their marks are kept
here only.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Assignment, Course, PlannerMark, User
from app.models.canvas import CANVAS
from app.models.types import utcnow
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_errors import CanvasAPIError

log = logging.getLogger(__name__)

# planner/items answers for a date window (two weeks either side when none is given):
# ask for a year either side, the span the calendar feed covers.
OVERRIDE_WINDOW = timedelta(days=365)


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
        now = utcnow()
        for item in self.api.get_planner_items(now - OVERRIDE_WINDOW, now + OVERRIDE_WINDOW):
            override = item.get("planner_override")
            if item.get("plannable_id") == canvas_assignment_id and isinstance(override, dict):
                return override.get("id")
        return None

    def pull(self, now: datetime | None = None, *, profile: bool = True) -> dict:
        """The sync's planner step: the profile's zone (when ``profile``, unless the user chose one)
        and every override. Returns what changed; a Canvas refusal is logged and skipped, never a
        failed sync."""
        out = {"time_zone": None, "marks": 0}
        try:
            if profile:
                out["time_zone"] = self.pull_time_zone()
            out["marks"] = self.pull_overrides(now)
        except CanvasAPIError as exc:
            log.warning("event=planner_pull_skipped user_id=%s error=%r", self.user.id, str(exc))
        return out

    def pull_time_zone(self) -> str | None:
        if self.user.time_zone_chosen:
            return None
        zone = valid_zone(self.api.get_profile().get("time_zone"))
        if zone and zone != self.user.time_zone:
            self.user.time_zone = zone
            return zone
        return None

    def pull_overrides(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        items = self.api.get_planner_items(now - OVERRIDE_WINDOW, now + OVERRIDE_WINDOW)
        ours = dict(self.session.execute(
            select(Assignment.canvas_assignment_id, Assignment.id)
            .join(Course, Course.id == Assignment.course_id)
            .where(Course.user_id == self.user.id, Course.source_system == CANVAS,
                   Assignment.deleted_at.is_(None))).all())
        marks = {m.assignment_id: m for m in self.session.scalars(
            select(PlannerMark).where(PlannerMark.user_id == self.user.id))}
        changed = 0
        for item in items:
            if item.get("plannable_type") != "assignment":
                continue
            local_id = ours.get(item.get("plannable_id"))
            if local_id is None:
                continue
            override = item.get("planner_override") if isinstance(item.get("planner_override"), dict) else None
            done = bool(override and override.get("marked_complete"))
            mark = marks.get(local_id)
            if mark is None and not done:
                continue
            if mark is None:
                mark = PlannerMark(user_id=self.user.id, assignment_id=local_id, done=done)
                self.session.add(mark)
            if mark.done != done or (override and mark.canvas_override_id != override.get("id")):
                mark.done = done
                mark.canvas_override_id = override.get("id") if override else None
                mark.updated_at = utcnow()
                changed += 1
        return changed
