"""All models, imported here so the metadata (and Alembic) sees every table."""
from app.models.calendar import CalendarFeed
from app.models.canvas import Assignment, Course, GradeCategory, Submission, Term
from app.models.classroom_usage import ClassroomUsage
from app.models.discussions import (DiscussionPost, DiscussionTopic, HubConflict, HubCourseLink, HubEntityMap,
                                    HubTransaction, HubVersionVector, HubWebhookEvent)
from app.models.connection import UserConnection
from app.models.oauth import OAuthIdentity
from app.models.ops import SyncAlert, SyncDailySummary
from app.models.planner import PlannerMark
from app.models.queue import QueuePause, SyncOperation
from app.models.sync import ServiceHeartbeat, SyncBookmark, SyncLock, SyncRun
from app.models.user import User

__all__ = [
    "Assignment",
    "CalendarFeed",
    "ClassroomUsage",
    "Course",
    "DiscussionPost",
    "DiscussionTopic",
    "GradeCategory",
    "HubConflict",
    "HubCourseLink",
    "HubEntityMap",
    "HubTransaction",
    "HubVersionVector",
    "HubWebhookEvent",
    "OAuthIdentity",
    "PlannerMark",
    "QueuePause",
    "ServiceHeartbeat",
    "Submission",
    "SyncAlert",
    "SyncBookmark",
    "SyncDailySummary",
    "SyncLock",
    "SyncOperation",
    "SyncRun",
    "Term",
    "User",
    "UserConnection",
]
