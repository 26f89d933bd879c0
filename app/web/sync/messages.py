"""Sync outcomes in plain words, from the sync_run row (shared by pages and the JSON feed)."""
from __future__ import annotations

from app.models import SyncRun

ENTITIES = (("terms", "Terms"), ("courses", "Courses"), ("grade_categories", "Grade categories"),
            ("assignments", "Assignments"), ("submissions", "Submissions"))
CHANGE_KINDS = ("created", "updated", "unchanged", "deleted")

BUSY = "Canvas is busy; we will retry."
KIND_DEFAULTS = {
    "invalid_token": "Canvas rejected the access token. Update it in Settings.",
    "unreachable": "Canvas could not be reached. Check the Canvas address in Settings, or try again later.",
    "throttled": BUSY,
    "partial": "Some courses could not be synced; the rest are up to date.",
    "other": "The sync stopped because of an unexpected problem. Try again later.",
}
STATUS_LABELS = {
    SyncRun.QUEUED: "Waiting to start",
    SyncRun.RUNNING: "Syncing",
    SyncRun.SUCCEEDED: "Done",
    SyncRun.PARTIAL: "Done, with problems",
    SyncRun.FAILED: "Failed",
}


def error_kind(run: SyncRun) -> str | None:
    counts = run.counts
    kind = counts.get("error_kind")
    if kind in KIND_DEFAULTS:
        return kind
    if run.status == SyncRun.PARTIAL or counts.get("course_errors"):
        return "partial"
    if run.status == SyncRun.FAILED:
        return "other"
    return None


def course_errors(run: SyncRun) -> list[dict]:
    errors = run.counts.get("course_errors") or []
    return [{"course": str(e.get("course") or "A course"), "error": str(e.get("error") or "")}
            for e in errors if isinstance(e, dict)]


def closed_courses(run: SyncRun) -> list[str]:
    """Courses Canvas no longer lets the user open: kept as last synced, not failures."""
    closed = run.counts.get("inaccessible_courses") or []
    return [str(c.get("course") or "A course") for c in closed if isinstance(c, dict)]


def _step(run: SyncRun, failed: bool, live=None) -> str:
    if not run.progress_total:
        return "stopped before any course" if failed else ""
    where = f"course {run.progress_current or 0} of {run.progress_total}"
    if failed:
        return f"stopped at {where}"
    if live is not None and live.written and (run.progress_current or 0) < run.progress_total:
        return f"course {(run.progress_current or 0) + 1} of {run.progress_total}: {live.written:,} submissions written"
    return where


def describe(run: SyncRun, live=None) -> dict:
    """``live``: the course being written now (CourseProgress), for a running run."""
    """Everything a page or the progress feed shows about a run; no secrets, plain words."""
    kind = error_kind(run)
    message = None
    if kind:
        message = run.error or KIND_DEFAULTS[kind]
        if kind == "throttled" and BUSY not in message:
            message = f"{BUSY} {message}"
    notice = BUSY if (run.throttles and not run.is_finished) else None
    failed = run.status == SyncRun.FAILED
    # A failed run's bar stops where the run stopped (not a full bar under "Failed").
    percent = run.percent
    if failed:
        percent = min(99, int(100 * (run.progress_current or 0) / run.progress_total)) if run.progress_total else 0
    elif live is not None and not run.is_finished and run.progress_total:
        # Inside the course being written: its share of the bar, by the rows it held last time.
        done = min(run.progress_total, (run.progress_current or 0) + live.fraction)
        percent = max(percent, min(99, int(100 * done / run.progress_total)))
    counts = run.counts
    table = []
    for key, label in ENTITIES:
        per = counts.get(key)
        if isinstance(per, dict):
            table.append({"key": key, "label": label, **{k: int(per.get(k) or 0) for k in CHANGE_KINDS}})
    return {
        "id": run.id,
        "status": run.status,
        "status_label": STATUS_LABELS.get(run.status, run.status),
        "finished": run.is_finished,
        "percent": percent,
        "failed": failed,
        "step": _step(run, failed, live),
        "rows_written": live.written if live is not None else 0,
        "current": run.progress_current or 0,
        "total": run.progress_total or 0,
        "current_item": run.current_item,
        "kind": run.kind,
        "trigger": run.trigger,
        "error_kind": kind,
        "message": message,
        "settings_link": kind in ("invalid_token", "unreachable"),
        "course_errors": course_errors(run),
        "closed_courses": closed_courses(run),
        "notice": notice,
        "counts": table,
        "requests": run.requests or 0,
        "retries": run.retries or 0,
        "throttles": run.throttles or 0,
        "duration_s": run.duration_s,
    }
