"""Configuration classes. This is the only module that reads the environment."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DEVELOPMENT_SECRET_KEY = "dev-secret-key-change-me"


class Config:
    # Which configuration class this is; create_app checks the production one (app/production.py).
    CANVASFLOW_ENV = "development"
    # Development defaults; ProductionConfig refuses to start without real secrets.
    SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    # Fernet key (urlsafe base64, 32 bytes) for Canvas tokens at rest; several keys
    # separated by commas rotate (the first encrypts, all decrypt). When unset the key
    # is derived from SECRET_KEY, which is fine for development only.
    TOKEN_ENCRYPTION_KEY = os.environ.get("TOKEN_ENCRYPTION_KEY", "")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'canvasflow.db'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_recycle": 3600}
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # Canvas HTTP client
    CANVAS_TIMEOUT_S = float(os.environ.get("CANVAS_TIMEOUT_S", "30"))
    CANVAS_MAX_RETRIES = _env_int("CANVAS_MAX_RETRIES", 5)
    CANVAS_PER_PAGE = _env_int("CANVAS_PER_PAGE", 100)
    SYNC_COURSE_WORKERS = _env_int("SYNC_COURSE_WORKERS", 4)
    # Sign in with Canvas (OAuth2): the school's Canvas and its developer key. With all
    # three set the login page offers "Log in with Canvas" (docs/notes/oauth.md).
    CANVAS_BASE_URL = os.environ.get("CANVAS_BASE_URL", "")
    CANVAS_OAUTH_CLIENT_ID = os.environ.get("CANVAS_OAUTH_CLIENT_ID", "")
    CANVAS_OAUTH_CLIENT_SECRET = os.environ.get("CANVAS_OAUTH_CLIENT_SECRET", "")
    CANVAS_OAUTH_SCOPES = os.environ.get("CANVAS_OAUTH_SCOPES", "")
    # 0: Settings no longer takes a pasted personal access token (OAuth only).
    CANVAS_ALLOW_PERSONAL_TOKENS = _env_bool("CANVAS_ALLOW_PERSONAL_TOKENS", True)
    SYNC_THREAD_POOL_SIZE = _env_int("SYNC_THREAD_POOL_SIZE", 4)
    # Canvas URLs pointing at private/loopback hosts are refused unless allowed (SSRF).
    ALLOW_PRIVATE_CANVAS_URLS = _env_bool("ALLOW_PRIVATE_CANVAS_URLS", True)
    REQUIRE_HTTPS_CANVAS_URLS = _env_bool("REQUIRE_HTTPS_CANVAS_URLS", False)
    # The outbound policy (app/services/http.py) applies the two rules above to every call
    # to a user-supplied address, on the address each socket connects to. Internal hosts
    # an operator trusts are named here (comma-separated), and then may be private and http.
    OUTBOUND_ALLOW_HOSTS = os.environ.get("OUTBOUND_ALLOW_HOSTS", "")
    # Bounds of every outbound request: connect plus all reads, the body read, pages per list.
    OUTBOUND_DEADLINE_S = float(os.environ.get("OUTBOUND_DEADLINE_S", "120"))
    OUTBOUND_MAX_BODY_BYTES = _env_int("OUTBOUND_MAX_BODY_BYTES", 24 * 1024 * 1024)
    OUTBOUND_MAX_PAGES = _env_int("OUTBOUND_MAX_PAGES", 2000)
    # A sync that runs longer than this fails in plain words and releases its lock.
    SYNC_MAX_RUN_SECONDS = float(os.environ.get("SYNC_MAX_RUN_SECONDS", "3600"))

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # "Keep me logged in" lasts this many days (Flask-Login's remember cookie).
    REMEMBER_COOKIE_DURATION = timedelta(days=_env_int("REMEMBER_DAYS", 30))
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_ENABLED = True
    # Failed logins per 5 minutes: LOGIN_RATE_LIMIT per account (from any address) and
    # LOGIN_RATE_LIMIT_PER_ADDRESS per client address (over any accounts).
    LOGIN_RATE_LIMIT = _env_int("LOGIN_RATE_LIMIT", 10)
    LOGIN_RATE_LIMIT_PER_ADDRESS = _env_int("LOGIN_RATE_LIMIT_PER_ADDRESS", 50)
    # A password-reset link is valid this long.
    PASSWORD_RESET_HOURS = _env_int("PASSWORD_RESET_HOURS", 2)
    # Every request body is refused (413) past this size before it is read; pages post a few KB.
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
    # How many proxies in front of the app set X-Forwarded-For/-Proto/-Host (werkzeug's
    # ProxyFix); 0 trusts none of those headers. Behind one nginx: 1.
    PROXY_TRUSTED_HOPS = _env_int("PROXY_TRUSTED_HOPS", 0)
    # How many web processes serve the app (gunicorn.conf.py exports GUNICORN_WORKERS): with
    # more than one, a per-process limiter storage (memory://) would not limit anything.
    WEB_WORKERS = _env_int("GUNICORN_WORKERS", 1)

    # Scheduled background syncs (started by `python run.py`): an incremental sync of every
    # connected user this often, and a full pass (deletions, late/missing flags) this often.
    SYNC_SCHEDULE_ENABLED = _env_bool("SYNC_SCHEDULE_ENABLED", True)
    SYNC_SCHEDULE_MINUTES = _env_int("SYNC_SCHEDULE_MINUTES", 15)
    SYNC_FULL_PASS_HOURS = _env_int("SYNC_FULL_PASS_HOURS", 24)
    # Each user's due time is delayed by a stable share (up to this fraction) of the interval.
    SYNC_SCHEDULE_JITTER = float(os.environ.get("SYNC_SCHEDULE_JITTER", "0.2"))
    # How often the scheduler wakes up; it leads while it beats (a standby takes over
    # after 3 missed beats), and re-notifies the executor of at most DISPATCH_MAX due operations.
    SYNC_TICK_SECONDS = _env_int("SYNC_TICK_SECONDS", 60)
    SYNC_DISPATCH_MAX = _env_int("SYNC_DISPATCH_MAX", 50)

    # The durable sync queue (app/sync/queue.py): transient failures are retried after
    # base, 2*base, 4*base... seconds (capped) up to MAX_ATTEMPTS runs; a worker holds an
    # operation for LEASE_S, after which a dead worker's operation is claimed again.
    SYNC_QUEUE_MAX_ATTEMPTS = _env_int("SYNC_QUEUE_MAX_ATTEMPTS", 5)
    SYNC_QUEUE_BACKOFF_BASE_S = float(os.environ.get("SYNC_QUEUE_BACKOFF_BASE_S", "30"))
    SYNC_QUEUE_BACKOFF_MAX_S = float(os.environ.get("SYNC_QUEUE_BACKOFF_MAX_S", "3600"))
    SYNC_QUEUE_LEASE_S = float(os.environ.get("SYNC_QUEUE_LEASE_S", "600"))
    # Who runs queued operations: "thread" (a pool in each app process; the default) or
    # "celery" (workers started with `celery -A app.celery_app worker`).
    SYNC_EXECUTOR = os.environ.get("SYNC_EXECUTOR", "thread")
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    CELERY_TASK_QUEUE = os.environ.get("CELERY_TASK_QUEUE", "canvasflow")
    # Where failed-login counts live: memory:// holds for one process only; under
    # gunicorn use redis://127.0.0.1:6379/1 so the limit holds across workers.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")

    # Logs: "json" (one object per line), "text", or "auto" (text on a terminal, else JSON).
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "auto")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # /metrics answers only requests with "Authorization: Bearer <METRICS_TOKEN>" when set.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
    # /healthz: the queue counts as stuck when due work has waited this long.
    HEALTH_QUEUE_STUCK_MINUTES = _env_int("HEALTH_QUEUE_STUCK_MINUTES", 30)

    # Alerts (app/ops/alerts.py): thresholds, then where they go (a webhook URL, email over SMTP).
    ALERT_FAILURES_IN_A_ROW = _env_int("ALERT_FAILURES_IN_A_ROW", 3)
    ALERT_NO_SUCCESS_HOURS = float(os.environ.get("ALERT_NO_SUCCESS_HOURS", "24"))
    ALERT_QUEUE_BACKLOG = _env_int("ALERT_QUEUE_BACKLOG", 100)
    ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "")
    ALERT_EMAIL_TO = os.environ.get("ALERT_EMAIL_TO", "")
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = _env_int("SMTP_PORT", 25)
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_FROM = os.environ.get("SMTP_FROM", "canvasflow@localhost")
    SMTP_STARTTLS = _env_bool("SMTP_STARTTLS", False)

    # Maintenance (`flask sync maintain`, and daily from the scheduler): what is kept how long.
    SYNC_RETENTION_COMPLETED_DAYS = _env_int("SYNC_RETENTION_COMPLETED_DAYS", 30)
    SYNC_RETENTION_FAILED_DAYS = _env_int("SYNC_RETENTION_FAILED_DAYS", 90)
    SYNC_RETENTION_BY_KIND = os.environ.get("SYNC_RETENTION_BY_KIND", "")  # "kind=completed_days:failed_days,..."
    SYNC_HISTORY_DAYS = _env_int("SYNC_HISTORY_DAYS", 30)
    SYNC_SUMMARY_DAYS = _env_int("SYNC_SUMMARY_DAYS", 365)
    SYNC_MAINTENANCE_HOURS = _env_int("SYNC_MAINTENANCE_HOURS", 24)

    # Read-only sources (Google Classroom, Schoology; app/sync/source_pull.py): each
    # connection is pulled this often, fully (deletions) at least every FULL_PULL_HOURS.
    SOURCE_PULL_MINUTES = _env_int("SOURCE_PULL_MINUTES", 30)
    SOURCE_FULL_PULL_HOURS = _env_int("SOURCE_FULL_PULL_HOURS", 24)
    SOURCE_TIMEOUT_S = float(os.environ.get("SOURCE_TIMEOUT_S", "30"))
    SOURCE_MAX_RETRIES = _env_int("SOURCE_MAX_RETRIES", 5)

    # Google Classroom (app/sync/connectors/classroom.py, app/sync/classroom_usage.py).
    CLASSROOM_API_URL = os.environ.get("CLASSROOM_API_URL", "https://classroom.googleapis.com")
    # Google Classroom consent (OAuth 2.0, offline access, Classroom read-only scopes). The
    # bases are Google's unless a sandbox serves them (docs/notes/oauth.md).
    GOOGLE_OAUTH_CLIENT_ID = os.environ.get("GOOGLE_OAUTH_CLIENT_ID", "")
    GOOGLE_OAUTH_CLIENT_SECRET = os.environ.get("GOOGLE_OAUTH_CLIENT_SECRET", "")
    GOOGLE_OAUTH_AUTH_BASE = os.environ.get("GOOGLE_OAUTH_AUTH_BASE", "https://accounts.google.com")
    GOOGLE_OAUTH_TOKEN_BASE = os.environ.get("GOOGLE_OAUTH_TOKEN_BASE", "https://oauth2.googleapis.com")
    CLASSROOM_REPORTS_URL = os.environ.get("CLASSROOM_REPORTS_URL", "https://admin.googleapis.com")
    # Usage by date starts at the school year's first day (YYYY-MM-DD; unset: usage is not imported),
    # is fetched in windows of at most this many days, and ends at the end date (unset: today).
    CLASSROOM_SCHOOL_YEAR_START = os.environ.get("CLASSROOM_SCHOOL_YEAR_START", "")
    CLASSROOM_USAGE_WINDOW_DAYS = _env_int("CLASSROOM_USAGE_WINDOW_DAYS", 7)
    CLASSROOM_USAGE_END_DATE = os.environ.get("CLASSROOM_USAGE_END_DATE", "")
    # The scheduler queues a usage run per Classroom connection (queue kind "classroom_usage",
    # app/sync/classroom_usage_pull.py): each fetches at most WINDOWS_PER_RUN windows within
    # RUN_S seconds; while behind, the next tick continues, then one run every USAGE_HOURS.
    CLASSROOM_USAGE_WINDOWS_PER_RUN = _env_int("CLASSROOM_USAGE_WINDOWS_PER_RUN", 4)
    CLASSROOM_USAGE_RUN_S = float(os.environ.get("CLASSROOM_USAGE_RUN_S", "300"))
    CLASSROOM_USAGE_HOURS = _env_int("CLASSROOM_USAGE_HOURS", 24)

    # The hub (app/sync/hub.py): which systems' discussions it keeps in step, how often it
    # polls each (pushes can be lost), how it resolves concurrent edits (system-wide, and
    # per entity type as "discussion_topic=MergePreferCanvas,discussion_post=PreferDiscourse"),
    # and the isolation level of its transactions ("" = the database's default; e.g.
    # "REPEATABLE READ", "SERIALIZABLE").
    HUB_SYSTEMS = os.environ.get("HUB_SYSTEMS", "canvas,discourse")
    HUB_PULL_SECONDS = _env_int("HUB_PULL_SECONDS", 300)
    HUB_PULL_OVERLAP_S = float(os.environ.get("HUB_PULL_OVERLAP_S", "60"))
    HUB_CONFLICT_STRATEGY = os.environ.get("HUB_CONFLICT_STRATEGY", "PreferMostRecent")
    HUB_CONFLICT_STRATEGY_BY_TYPE = os.environ.get("HUB_CONFLICT_STRATEGY_BY_TYPE", "")
    HUB_ISOLATION_LEVEL = os.environ.get("HUB_ISOLATION_LEVEL", "")
    # Discourse (app/sync/connectors/discourse.py): the forum, an admin API key and the user it acts
    # as, and the secret its webhooks are signed with (POST /webhooks/discourse). The key and the secret
    # live in the environment only, never in the database or the logs.
    DISCOURSE_URL = os.environ.get("DISCOURSE_URL", "")
    DISCOURSE_API_KEY = os.environ.get("DISCOURSE_API_KEY", "")
    DISCOURSE_API_USERNAME = os.environ.get("DISCOURSE_API_USERNAME", "system")
    DISCOURSE_WEBHOOK_SECRET = os.environ.get("DISCOURSE_WEBHOOK_SECRET", "")
    DISCOURSE_TIMEOUT_S = float(os.environ.get("DISCOURSE_TIMEOUT_S", "30"))
    # Canvas Live Events are JWTs signed by Instructure: the public JWKS (JSON) to verify them by kid.
    CANVAS_LIVE_EVENTS_JWKS = os.environ.get("CANVAS_LIVE_EVENTS_JWKS", "")
    # A Live Event must carry exp and iat, iat no older than this (and not in the future by
    # more than the leeway); iss and aud are checked when set.
    CANVAS_LIVE_EVENTS_MAX_AGE_S = _env_int("CANVAS_LIVE_EVENTS_MAX_AGE_S", 3600)
    CANVAS_LIVE_EVENTS_LEEWAY_S = _env_int("CANVAS_LIVE_EVENTS_LEEWAY_S", 60)
    CANVAS_LIVE_EVENTS_ISSUER = os.environ.get("CANVAS_LIVE_EVENTS_ISSUER", "")
    CANVAS_LIVE_EVENTS_AUDIENCE = os.environ.get("CANVAS_LIVE_EVENTS_AUDIENCE", "")

    # Planner days and times are shown in this zone (IANA name).
    DISPLAY_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "UTC")

    # Schoology: the API base, and whether sections of past grading periods (and their
    # assignments and submissions) are pulled too (`include_past=1`).
    SCHOOLOGY_API_URL = os.environ.get("SCHOOLOGY_API_URL", "https://api.schoology.com/v1")
    SCHOOLOGY_INCLUDE_PAST = _env_bool("SCHOOLOGY_INCLUDE_PAST", False)

    # Sandbox Canvas used by `python run.py --demo`
    DEMO_SANDBOX_PORT = _env_int("DEMO_SANDBOX_PORT", 8765)
    DEMO_EMAIL = os.environ.get("DEMO_EMAIL", "demo@canvasflow.test")
    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-password")
    # ... and its sandbox Discourse, whose first course category one demo course is linked to
    DEMO_DISCOURSE_PORT = _env_int("DEMO_DISCOURSE_PORT", 8766)
    DEMO_STUDENT_EMAIL = os.environ.get("DEMO_STUDENT_EMAIL", "student@canvasflow.test")
    DEMO_STUDENT_PASSWORD = os.environ.get("DEMO_STUDENT_PASSWORD", "student-password")


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    CANVASFLOW_ENV = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    TOKEN_ENCRYPTION_KEY = ""
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = True


class ProductionConfig(Config):
    CANVASFLOW_ENV = "production"
    # No default: create_app refuses to start without a real one.
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    ALLOW_PRIVATE_CANVAS_URLS = _env_bool("ALLOW_PRIVATE_CANVAS_URLS", False)
    REQUIRE_HTTPS_CANVAS_URLS = _env_bool("REQUIRE_HTTPS_CANVAS_URLS", True)


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    return CONFIGS[os.environ.get("CANVASFLOW_ENV", "development")]
