"""All models, imported here so the metadata (and Alembic) sees every table."""
from app.models.canvas import Assignment, Course, GradeCategory, Submission, Term
from app.models.sync import SyncLock, SyncRun
from app.models.user import User

__all__ = ["Assignment", "Course", "GradeCategory", "Submission", "SyncLock", "SyncRun", "Term", "User"]
