"""Typed Canvas errors. Every message is plain words, safe to show a user, and never holds a token."""
from __future__ import annotations

from app.services.http import ApiError


class CanvasAPIError(ApiError):
    system = "Canvas"
    kind = "other"


class InvalidToken(CanvasAPIError):
    kind = "invalid_token"

    def __init__(self, reason: str = "invalid", *, status: int | None = 401):
        self.reason = reason  # invalid, expired or revoked
        super().__init__(f"Canvas rejected the access token ({reason}).", status=status)


class ReconnectNeeded(InvalidToken):
    """Canvas refused the refresh token (the person removed the app, or an admin revoked it)."""

    def __init__(self, *, status: int | None = 400):
        CanvasAPIError.__init__(self, "Canvas no longer accepts Canvas Flow's sign-in for this account. "
                                "Connect Canvas again (Log in with Canvas); your synced data is kept.",
                                status=status)
        self.reason = "reconnect"


class InsufficientScope(CanvasAPIError):
    kind = "invalid_token"

    def __init__(self, status: int | None = 401, *, missing: str | None = None):
        self.missing = missing
        needs = f" (it needs {missing})" if missing else ""
        super().__init__(f"The Canvas access token lacks the scopes Canvas Flow needs{needs}.", status=status)


class Forbidden(CanvasAPIError):
    kind = "forbidden"


class Unauthorized(Forbidden):
    """Canvas's render_unauthorized_action (401 or 403, body status "unauthorized", no WWW-Authenticate).

    The token is fine, this user may not do this here: inside a course, the course is one
    they can no longer open (concluded, date-restricted, enrollment ended).
    """

    kind = "unauthorized"


class NotFound(CanvasAPIError):
    kind = "not_found"


class Throttled(CanvasAPIError):
    kind = "throttled"
    retriable = True

    def __init__(self, status: int | None = None):
        super().__init__("Canvas is busy and kept asking us to slow down; we will retry later.", status=status)


class CanvasUnavailable(CanvasAPIError):
    kind = "unreachable"
    retriable = True


class BadResponse(CanvasAPIError):
    kind = "bad_response"


class RunTimeExceeded(CanvasAPIError):
    """The sync's time limit (SYNC_MAX_RUN_SECONDS) passed: no more requests for this run."""

    kind = "run_time"

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message, status=status, refusal="run_time")
