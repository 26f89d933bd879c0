"""Entry point: `python run.py` serves the app; `python run.py --demo` serves it with sandbox data.

Also the `--app` target for the flask CLI: `flask --app run db upgrade`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app import create_app


def _doctor_requested(argv: list[str]) -> bool:
    # `flask --app run doctor` must list what is wrong instead of stopping at the first refusal.
    program = Path(argv[0])
    return (program.name == "flask" or program.parent.name == "flask") and "doctor" in argv[1:]


app = create_app(refuse_unsafe=not _doctor_requested(sys.argv))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Canvas Flow.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--demo", action="store_true", help="start the sandbox Canvas and a demo user")
    args = parser.parse_args(argv)
    if args.demo:
        from app.demo import start_demo

        start_demo(app)
    from app.sync.scheduler import start_scheduler

    start_scheduler(app)
    print(f"Canvas Flow is running at http://{args.host}:{args.port}/", flush=True)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
