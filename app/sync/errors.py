"""Errors an operation handler raises to tell the queue whether a retry can help.

Permanent: a retry gives the same answer (bad token, 404, invalid data); the operation
fails at once. Transient: the outside world may recover (5xx, throttling, a dropped
connection); the operation is retried with exponential backoff up to its limit.
"""
from __future__ import annotations

import json

import requests

from app.services.http import ApiError


class OperationError(Exception):
    error_class = "transient"

    def __init__(self, message: str, *, context: dict | None = None):
        super().__init__(message)
        self.message = message
        self.context = context or {}


class TransientError(OperationError):
    error_class = "transient"


class PermanentError(OperationError):
    error_class = "permanent"


class ConflictError(TransientError):
    """The target changed since we last synced it (Discourse 409 on a stale original_text).

    `current` is the body the target holds now, so the hub can resolve the conflict and
    retry with it as the new base.
    """

    def __init__(self, message: str, *, current: str | None = None, context: dict | None = None):
        super().__init__(message, context=context)
        self.current = current


PERMANENT_TYPES: tuple[type[BaseException], ...] = (KeyError, ValueError, TypeError, json.JSONDecodeError)
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (requests.ConnectionError, requests.Timeout, ConnectionError,
                                                    TimeoutError)


def classify(exc: BaseException) -> str:
    """'permanent' or 'transient' for any exception a handler let through."""
    if isinstance(exc, OperationError):
        return exc.error_class
    if isinstance(exc, ApiError):  # every external system's errors say whether a retry can help
        return "transient" if exc.retriable else "permanent"
    if isinstance(exc, TRANSIENT_TYPES):
        return "transient"
    if isinstance(exc, PERMANENT_TYPES):
        return "permanent"
    return "transient"


def describe(exc: BaseException) -> str:
    """A plain message for the operator: the error's own words, never a token (our errors hold none)."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message[:2000]


