"""What a production start needs: create_app refuses weak secrets, `flask doctor` lists the rest.

Refusals stop the start (one plain line each): a secret that anyone can look up signs
sessions and unlocks stored tokens. The doctor adds the settings that are unsafe but
not fatal (no proxy hops, an open /metrics, SQLite under several workers...), so an
operator can check a deployment before it serves anyone.
"""
from __future__ import annotations

from collections.abc import Mapping

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

MIN_SECRET_BYTES = 32
# Defaults shipped by this project, Flask's docs and tutorials: never a real secret.
KNOWN_DEFAULT_SECRETS = frozenset({
    "dev-secret-key-change-me", "test-secret-key", "dev", "development", "secret", "secret-key", "secretkey",
    "changeme", "change-me", "change_me", "please-change-me", "default", "password", "your-secret-key",
    "super-secret-key", "supersecret", "you-will-never-guess", "canvasflow",
})
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
GENERATE_FERNET = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class UnsafeProductionSettings(RuntimeError):
    def __init__(self, problems: list[str]):
        super().__init__("Canvas Flow refuses to start in production:\n" + "\n".join(f"- {p}" for p in problems))
        self.problems = problems


def refusals(config: Mapping) -> list[str]:
    """The settings a production start refuses, one plain sentence each (empty: none)."""
    problems = []
    secret = str(config.get("SECRET_KEY") or "")
    if not secret.strip():
        problems.append(f"SECRET_KEY is not set. Generate one with: {GENERATE_SECRET}")
    elif secret.strip().lower() in KNOWN_DEFAULT_SECRETS or secret.lower().startswith("dev-"):
        problems.append(f"SECRET_KEY is a published default. Generate one with: {GENERATE_SECRET}")
    elif len(secret.encode()) < MIN_SECRET_BYTES:
        problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_BYTES} bytes. Generate one with: {GENERATE_SECRET}")
    token_keys = [k.strip() for k in str(config.get("TOKEN_ENCRYPTION_KEY") or "").split(",") if k.strip()]
    if not token_keys:
        problems.append(f"TOKEN_ENCRYPTION_KEY is not set. Generate one with: {GENERATE_FERNET}")
    else:
        for index, key in enumerate(token_keys, start=1):
            try:
                Fernet(key.encode())
            except ValueError:
                problems.append(f"TOKEN_ENCRYPTION_KEY key {index} is not a Fernet key. Generate one with: "
                                f"{GENERATE_FERNET}")
    workers = int(config.get("WEB_WORKERS") or 1)
    if workers > 1 and str(config.get("RATELIMIT_STORAGE_URI") or "memory://").startswith("memory"):
        problems.append(f"RATELIMIT_STORAGE_URI is per process (memory://) but {workers} web workers run: set "
                        "redis://HOST:6379/1 so login limits hold across them.")
    return problems


def warnings(config: Mapping) -> list[str]:
    """Unsafe or missing production settings that do not stop a start."""
    problems = []
    if config.get("CANVASFLOW_ENV") != "production":
        problems.append(f"CANVASFLOW_ENV is {config.get('CANVASFLOW_ENV')!r}: the development settings are "
                        "running. Set CANVASFLOW_ENV=production (make serve does).")
    if config.get("DEBUG"):
        problems.append("DEBUG is on: tracebacks and the debugger are shown to anyone.")
    if not config.get("SESSION_COOKIE_SECURE") or not config.get("REMEMBER_COOKIE_SECURE"):
        problems.append("Session and remember-me cookies are not marked Secure: they would travel over plain http.")
    if int(config.get("PROXY_TRUSTED_HOPS") or 0) < 1:
        problems.append("PROXY_TRUSTED_HOPS is 0: behind a proxy every client has the proxy's address, so one "
                        "client's failed logins lock out everyone. Set it to the number of proxies (usually 1).")
    if not config.get("METRICS_TOKEN"):
        problems.append("METRICS_TOKEN is not set: /metrics is open to anyone who can reach the app.")
    if config.get("ALLOW_PRIVATE_CANVAS_URLS"):
        problems.append("ALLOW_PRIVATE_CANVAS_URLS is on: users can point the app at addresses inside your network.")
    if not config.get("REQUIRE_HTTPS_CANVAS_URLS"):
        problems.append("REQUIRE_HTTPS_CANVAS_URLS is off: tokens may be sent over plain http.")
    database = make_url(str(config.get("SQLALCHEMY_DATABASE_URI") or "sqlite://"))
    if database.get_backend_name() == "sqlite" and int(config.get("WEB_WORKERS") or 1) > 1:
        problems.append("DATABASE_URL is SQLite while several web workers run: use MariaDB or PostgreSQL.")
    return problems


def check(config: Mapping) -> list[str]:
    """Everything the doctor reports: refusals first, then warnings."""
    return refusals(config) + warnings(config)
