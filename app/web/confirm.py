"""A confirmation step for destructive actions, without JavaScript.

The first POST (the button on the page) answers with a page that says what will happen
and asks again; only a POST carrying ``confirm=yes`` (that page's button, with a fresh
CSRF token) acts. Cancel goes back to where the person was.
"""
from __future__ import annotations

from flask import render_template, request

CONFIRM_FIELD = "confirm"


def confirmed() -> bool:
    return request.form.get(CONFIRM_FIELD) == "yes"


def confirmation_page(*, title: str, message: str, confirm_label: str, cancel_url: str):
    """The page asking to confirm the POST in progress (same address, same non-secret fields)."""
    return render_template("confirm.html", title=title, message=message, confirm_label=confirm_label,
                           cancel_url=cancel_url, action=request.path, field=CONFIRM_FIELD)
