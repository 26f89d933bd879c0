"""Canvas error responses, byte for byte where the source is known, and the data layer's ``SandboxError``."""
from __future__ import annotations

import json

WWW_AUTHENTICATE = ("WWW-Authenticate", 'Bearer realm="canvas-lms"')
NOT_FOUND_BODY = {"errors": [{"message": "The specified resource does not exist."}]}
UNAUTHORIZED_BODY = {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}
INVALID_TOKEN_BODY = {"errors": [{"message": "Invalid access token."}]}
REVOKED_TOKEN_BODY = {"errors": [{"message": "Revoked access token."}]}
NO_TOKEN_BODY = {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}


class SandboxError(LookupError):
    """Raised by the mutation API for unknown ids or invalid arguments."""


class ApiError(Exception):
    """Raised by a route handler; the server renders it as a JSON error response."""

    def __init__(self, status: int, payload, headers: list[tuple[str, str]] | None = None):
        super().__init__(f"{status} {payload}")
        self.status = status
        self.payload = payload
        self.headers = headers or []

    def body(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


def not_found() -> ApiError:
    return ApiError(404, NOT_FOUND_BODY)


def unauthorized(status: int = 401) -> ApiError:
    """``render_unauthorized_action``: 401 on older instances, 403 on newer ones."""
    return ApiError(status, UNAUTHORIZED_BODY)


def bad_request(payload) -> ApiError:
    return ApiError(400, payload)
