"""gunicorn settings for `make serve` (and the tests that run the app under gunicorn).

Prometheus counters of several worker processes are summed from files in
PROMETHEUS_MULTIPROC_DIR (app/ops/metrics.py): the directory is emptied when the
server starts, and a dead worker's files are marked so its gauges drop out.
"""
import os
import shutil

# Exported so the app's production check (config.WEB_WORKERS) sees how many workers share it.
os.environ.setdefault("GUNICORN_WORKERS", "3")
workers = int(os.environ["GUNICORN_WORKERS"])
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
graceful_timeout = 20


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
