"""Building each system's connector for the hub, with the credentials of the scope it acts for."""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Course, HubCourseLink, User
from app.services.canvas_oauth import token_source_for
from app.sync.connectors.base import Connector, ConnectorRegistry
from app.sync.connectors.canvas import CanvasConnector, canvas_instance
from app.sync.errors import PermanentError

# Systems whose connector acts with the course owner's own account (a Canvas token).
USER_SCOPED = {CanvasConnector.name}


class ConnectorProvider:
    """Builds each system's connector through the registry, for one scope.

    The factory gets (credentials, http session, settings): for Canvas the credentials of
    the user whose course it is; settings are the app's config plus `course_ids`, the
    linked containers of that system (the Canvas course ids, the Discourse category ids).
    """

    def __init__(self, session: Session, registry: ConnectorRegistry, config: Mapping):
        self.session = session
        self.registry = registry
        self.config = config
        self._built: dict[tuple[str, int | None], Connector] = {}

    def get(self, system: str, user_id: int | None = None) -> Connector:
        scope = user_id if system in USER_SCOPED else None
        key = (system, scope)
        if key not in self._built:
            credentials = None
            if system in USER_SCOPED and scope is not None:
                user = self.session.get(User, scope)
                if user is None or not user.has_canvas:
                    raise PermanentError("The course owner has no Canvas account connected any more.")
                # Signed in with Canvas: the refreshing token, so an hour-old access token still works.
                credentials = {"base_url": user.canvas_base_url, "token": user.canvas_token,
                               "token_source": token_source_for(user)}
            settings = {**dict(self.config), "course_ids": self.containers(system, scope)}
            self._built[key] = self.registry.create(system, credentials, None, settings)
        return self._built[key]

    def check(self, system: str) -> None:
        """Build the system's connector once, unkept: raises PermanentError (in plain words) when the
        system is not set up here. User-scoped systems are checked when their owner's connector is built."""
        if system in USER_SCOPED:
            return
        connector = self.registry.create(system, None, None, {**dict(self.config), "course_ids": []})
        close = getattr(connector, "close", None)
        if close is not None:
            close()

    def containers(self, system: str, user_id: int | None = None) -> list[str]:
        stmt = select(HubCourseLink.container_id).where(HubCourseLink.system == system)
        if user_id is not None:
            stmt = stmt.join(Course, Course.id == HubCourseLink.course_id).where(Course.user_id == user_id)
            if system in USER_SCOPED:
                # Only the courses linked in the instance the account points at now: after a change
                # of host the old ids would name the new instance's courses.
                user = self.session.get(User, user_id)
                stmt = stmt.where(HubCourseLink.instance == canvas_instance(user.canvas_base_url if user else None))
        return sorted(self.session.scalars(stmt), key=lambda c: (len(c), c))

    def scopes(self, system: str) -> list[int | None]:
        """Whom to pull as: each owner of a linked course (Canvas), or the system's one account."""
        if system in USER_SCOPED:
            return list(self.session.scalars(
                select(Course.user_id).join(HubCourseLink, HubCourseLink.course_id == Course.id)
                .where(HubCourseLink.system == system).distinct().order_by(Course.user_id)))
        exists = self.session.scalar(select(func.count()).select_from(HubCourseLink)
                                     .where(HubCourseLink.system == system))
        return [None] if exists else []

    def close(self) -> None:
        for connector in self._built.values():
            close = getattr(connector, "close", None)
            if close is not None:
                close()
        self._built.clear()
