"""A production start: weak settings are refused, `flask doctor` lists them, `make serve` is production."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app import create_app
from app.production import UnsafeProductionSettings
from config import ProductionConfig

ROOT = Path(__file__).resolve().parents[1]
GOOD_SECRET = "k3Jq9vV0t2mXc8yH1pLr6sNw4zBf7uQeYaTg5dZi0oUj"
GOOD = {"SECRET_KEY": GOOD_SECRET, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": "sqlite://", "WEB_WORKERS": 1, "RATELIMIT_STORAGE_URI": "memory://"}


def production(**overrides) -> dict:
    return {**{k: getattr(ProductionConfig, k) for k in dir(ProductionConfig) if k.isupper()}, **GOOD, **overrides}


def test_a_good_production_configuration_starts():
    app = create_app(production())
    assert app.config["CANVASFLOW_ENV"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]


@pytest.mark.parametrize("overrides, line", [
    ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
    ({"SECRET_KEY": "changeme"}, "SECRET_KEY is a published default"),
    ({"SECRET_KEY": "Dev-secret-key-change-me"}, "SECRET_KEY is a published default"),
    ({"SECRET_KEY": "dev-secret-key-change-me"}, "SECRET_KEY is a published default"),
    ({"SECRET_KEY": "a-real-but-short-secret"}, "SECRET_KEY is shorter than 32 bytes"),
    ({"TOKEN_ENCRYPTION_KEY": ""}, "TOKEN_ENCRYPTION_KEY is not set"),
    ({"TOKEN_ENCRYPTION_KEY": "not-a-fernet-key"}, "TOKEN_ENCRYPTION_KEY key 1 is not a Fernet key"),
    ({"WEB_WORKERS": 3, "RATELIMIT_STORAGE_URI": "memory://"}, "RATELIMIT_STORAGE_URI is per process"),
])
def test_each_weak_setting_is_refused_with_one_plain_line(overrides, line):
    with pytest.raises(UnsafeProductionSettings) as refused:
        create_app(production(**overrides))
    assert len(refused.value.problems) == 1 and refused.value.problems[0].startswith(line)
    assert line in str(refused.value)


def test_several_workers_with_shared_limiter_storage_start():
    create_app(production(WEB_WORKERS=3, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/1"))


def test_the_production_class_has_no_secret_of_its_own(monkeypatch):
    import importlib

    import config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    try:
        assert importlib.reload(config).ProductionConfig.SECRET_KEY == ""
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def flask_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SECRET_KEY", "TOKEN_ENCRYPTION", "CANVASFLOW_ENV", "METRICS", "PROXY_", "RATELIMIT",
                                 "GUNICORN", "DATABASE_URL", "PROMETHEUS"))}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_doctor_fails_on_the_development_key(tmp_path):
    result = flask_cli("doctor", DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}")
    assert result.returncode == 1
    assert "SECRET_KEY is a published default" in result.stdout
    assert "CANVASFLOW_ENV is 'development'" in result.stdout


def test_doctor_lists_every_problem_where_the_production_start_refuses(tmp_path):
    env = {"CANVASFLOW_ENV": "production", "SECRET_KEY": "changeme", "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    refused = flask_cli("db", "current", **env)
    assert refused.returncode != 0 and "SECRET_KEY is a published default" in refused.stderr
    result = flask_cli("doctor", **env)
    assert result.returncode == 1
    for line in ("SECRET_KEY is a published default", "TOKEN_ENCRYPTION_KEY is not set", "PROXY_TRUSTED_HOPS is 0",
                 "METRICS_TOKEN is not set"):
        assert line in result.stdout


def test_doctor_passes_a_good_configuration(tmp_path):
    result = flask_cli("doctor", CANVASFLOW_ENV="production", SECRET_KEY=GOOD_SECRET,
                       TOKEN_ENCRYPTION_KEY=GOOD["TOKEN_ENCRYPTION_KEY"], PROXY_TRUSTED_HOPS="1",
                       METRICS_TOKEN="scrape-token-0123456789", DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_make_serve_runs_the_production_config(tmp_path):
    """`make serve` with stand-in flask and gunicorn that record the environment they were given."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    record = tmp_path / "env.txt"
    for tool in ("python", "pip", "flask", "gunicorn"):
        script = venv / "bin" / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $CANVASFLOW_ENV $GUNICORN_WORKERS" >> {record}\n')
        script.chmod(0o755)
    for marker in (".installed", ".installed-dev"):
        (venv / marker).touch()  # newer than requirements*.txt: nothing is installed
    env = {k: v for k, v in os.environ.items() if k not in ("CANVASFLOW_ENV", "MAKEFLAGS")}
    for target in ("serve", "scheduler", "worker"):
        result = subprocess.run(["make", "-s", target, f"VENV={venv}"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    lines = record.read_text().splitlines()
    assert lines == ["flask production ", "gunicorn production 3", "flask production ", "flask production "]


def test_proxy_fix_trusts_the_configured_hops():
    seen = []
    app = create_app(production(PROXY_TRUSTED_HOPS=1))

    @app.get("/whoami")
    def whoami():
        from flask import request

        seen.append((request.remote_addr, request.scheme))
        return "ok"

    app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.2",
                                               "X-Forwarded-Proto": "https"})
    assert seen == [("198.51.100.2", "https")]  # only the one trusted proxy's word
    untrusted = create_app(production())
    untrusted.add_url_rule("/whoami", view_func=whoami)
    untrusted.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"})
    assert seen[-1][0] == "127.0.0.1"


def test_db_upgrade_creates_a_missing_prometheus_folder(tmp_path):
    folder = tmp_path / "not" / "yet" / "there"
    result = flask_cli("db", "upgrade", DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}",
                       PROMETHEUS_MULTIPROC_DIR=str(folder))
    assert result.returncode == 0, result.stderr[-2000:]
    assert folder.is_dir()


def test_gunicorn_with_a_weak_key_stops_instead_of_serving(tmp_path):
    """The refusal under the production command: the workers fail to boot and the master exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "TOKEN_ENCRYPTION", "GUNICORN"))}
    env.update(CANVASFLOW_ENV="production", SECRET_KEY="changeme", TOKEN_ENCRYPTION_KEY=GOOD["TOKEN_ENCRYPTION_KEY"],
               DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}", GUNICORN_WORKERS="2", GUNICORN_BIND="127.0.0.1:0",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    result = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "run:app"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY is a published default" in result.stderr
