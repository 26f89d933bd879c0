"""``python -m sandbox.classroom``: serve a sandbox Google Classroom until interrupted."""
from __future__ import annotations

import argparse

from ..serving import serve_until_interrupted
from .server import ClassroomSandbox


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.classroom", description=__doc__)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--courses", type=int, default=3)
    parser.add_argument("--course-work", type=int, default=10)
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--token", default="classroom-sandbox-token")
    args = parser.parse_args(argv)
    sb = ClassroomSandbox(courses=args.courses, course_work=args.course_work, students=args.students,
                          seed=args.seed, token=args.token, port=args.port)
    sb.start()
    print(f"Sandbox Google Classroom at {sb.base_url} (token {sb.token})", flush=True)
    serve_until_interrupted(sb)


if __name__ == "__main__":
    main()
