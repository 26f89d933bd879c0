"""Names from the code said in words on the pages, and errors in plain words without their SQL.

A database error's message carries the statement and its parameters (post text,
e-mail addresses): the Operations page shows its class in words, and the detail behind
a toggle with the statement and parameters cut out.
"""
from __future__ import annotations

import re

STRATEGIES = {
    "PreferCanvas": "The Canvas version wins",
    "PreferDiscourse": "The Discourse version wins",
    "PreferMostRecent": "The most recent edit wins",
    "MergePreferCanvas": "Merged, Canvas wins where both changed",
    "MergePreferDiscourse": "Merged, Discourse wins where both changed",
}
RUN_KINDS = {"full": "Full sync", "incremental": "Incremental sync", "course": "One course"}
TRIGGERS = {"button": "Sync button", "schedule": "Schedule", "admin": "An admin", "cli": "Command line",
            "shell": "Python shell", "demo": "Demo start", "settings": "Settings", "webhook": "Webhook"}
OPERATION_KINDS = {"canvas_sync": "Canvas sync", "source_pull": "Classroom/Schoology pull",
                   "hub_delivery": "Discussion delivery", "hub_pull": "Discussion pull",
                   "classroom_usage": "Classroom usage"}
OPERATION_STATUSES = {"pending": "Waiting", "in_progress": "Running", "completed": "Done", "failed": "Failed",
                      "skipped": "Skipped"}
# What the admin may do to an operation in each state (app/sync/queue.py retry/skip/force).
ACTIONS_BY_STATUS = {"pending": ("skip", "force"), "failed": ("retry", "skip", "force"),
                     "skipped": ("retry", "force"), "in_progress": (), "completed": ()}

ERROR_CLASSES = {
    "IntegrityError": "A database rule refused the write",
    "OperationalError": "The database could not be used",
    "DataError": "A value did not fit its database column",
    "ProgrammingError": "A database statement was wrong (a bug)",
    "InterfaceError": "The database connection failed",
    "TimeoutError": "Timed out",
    "ConnectionError": "Could not connect",
}
SQLALCHEMY_ERROR = re.compile(r"^\((?:sqlalchemy\.exc\.)?[\w.]*?(\w+Error)\)")
SQL_PARTS = re.compile(r"\[(?:SQL|parameters)[^\]]*\]?|\(Background on this error[^)]*\)", re.S)


def in_words(table: dict, name: str | None) -> str:
    if not name:
        return ""
    return table.get(name, name.replace("_", " ").capitalize())


def plain_error(message: str | None) -> tuple[str, str]:
    """(summary in plain words, detail without SQL text or parameters)."""
    if not message:
        return "", ""
    text = message.strip()
    # The statement, its parameters and SQLAlchemy's link each sit in brackets, or run to the end.
    detail = SQL_PARTS.sub("", text)
    detail = re.split(r"\n\s*\[(?:SQL|parameters)", detail)[0]
    detail = re.sub(r"(INSERT|UPDATE|DELETE|SELECT)\s.*", "(statement left out)", detail, flags=re.S | re.I)
    detail = re.sub(r"\n\s*\n+", "\n", detail).strip()
    match = SQLALCHEMY_ERROR.match(text)
    if match:
        return f"{ERROR_CLASSES.get(match.group(1), 'Database error')} ({match.group(1)})", detail
    first = detail.splitlines()[0] if detail else ""
    return (first[:157] + "...") if len(first) > 160 else first, detail


def plural(count: int | None, noun: str, plural_form: str | None = None) -> str:
    count = count or 0
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"
