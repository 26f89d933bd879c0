"""``python -m sandbox.schoology``: serve a sandbox Schoology until interrupted."""
from __future__ import annotations

import argparse

from ..serving import serve_until_interrupted
from .server import SchoologySandbox


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.schoology", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--courses", type=int, default=2)
    parser.add_argument("--assignments", type=int, default=4)
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throttle-limit", type=int, default=50)
    parser.add_argument("--throttle-window", type=float, default=5.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    sb = SchoologySandbox(courses=args.courses, assignments=args.assignments, students=args.students,
                          seed=args.seed, throttle_limit=args.throttle_limit,
                          throttle_window_s=args.throttle_window, port=args.port, verbose=args.verbose).start()
    print(f"Schoology sandbox at {sb.api_url} key={sb.consumer_key} secret={sb.consumer_secret}", flush=True)
    serve_until_interrupted(sb)


if __name__ == "__main__":
    main()
