"""Command line: ``python -m sandbox.canvas`` (and the app's ``flask sandbox canvas`` wrapper)."""
from __future__ import annotations

import argparse
import sys

from ..serving import serve_until_interrupted
from .faults import DEFAULT_SLOW_S, FAULT_KINDS

DEFAULT_PORT = 8765


def add_cli_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the sandbox options to an existing parser (so other CLIs can wrap ``main``)."""
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"],
                        help="address to bind (loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--token", default="sandbox-token", help="the valid access token (default sandbox-token)")
    parser.add_argument("--courses", type=int, default=3, help="number of courses (default 3)")
    parser.add_argument("--assignments", type=int, default=10, help="assignments per course (default 10)")
    parser.add_argument("--students", type=int, default=20, help="students per course (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="data and fault seed (default 1)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sleep per API request, in the handler")
    parser.add_argument("--throttle", dest="throttle", action="store_true", default=True,
                        help="enforce the leaky-bucket throttle (default)")
    parser.add_argument("--no-throttle", dest="throttle", action="store_false", help="never throttle")
    parser.add_argument("--throttle-status", type=int, default=403, choices=[403, 429],
                        help="status of a throttled response (403 self-hosted, 429 Instructure-hosted)")
    parser.add_argument("--unauthorized-status", type=int, default=401, choices=[401, 403],
                        help="status of 'user not authorized' (401 older instances, 403 newer)")
    parser.add_argument("--faults", type=float, default=0.0, metavar="RATE",
                        help="fraction of API requests that fail (0..1)")
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS),
                        help=f"comma-separated subset of {','.join(FAULT_KINDS)}")
    parser.add_argument("--fault-slow-s", type=float, default=DEFAULT_SLOW_S,
                        help=f"seconds a 'slow' fault stalls (default {DEFAULT_SLOW_S:g})")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def build_parser(prog: str = "python -m sandbox.canvas") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Sandbox Canvas LMS server on 127.0.0.1")
    return add_cli_options(parser)


def sandbox_from_args(args: argparse.Namespace):
    from .runner import CanvasSandbox

    kinds = [k.strip() for k in args.fault_kinds.split(",") if k.strip()]
    return CanvasSandbox(courses=args.courses, assignments=args.assignments, students=args.students,
                         seed=args.seed, token=args.token, latency_ms=args.latency_ms, throttle=args.throttle,
                         throttle_status=args.throttle_status, faults=args.faults, port=args.port,
                         host=args.host, fault_kinds=kinds, fault_slow_s=args.fault_slow_s,
                         unauthorized_status=args.unauthorized_status, verbose=args.verbose)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sb = sandbox_from_args(args)
    sb.start()
    summary = sb.data.summary()
    print(f"Sandbox Canvas running at {sb.base_url}  (API under {sb.api_url})", flush=True)
    print(f"Access token: {sb.token}", flush=True)
    print(f"Data: {summary['courses']} courses, {summary['assignments']} assignments, "
          f"{summary['students']} students, {summary['submissions']} submissions (seed {args.seed}); "
          f"throttle {'on' if args.throttle else 'off'} ({args.throttle_status}), faults {args.faults:g}, "
          f"latency {args.latency_ms:g} ms", flush=True)
    print(f"Control: {sb.base_url}/__sandbox__/ (health, data, log, mutate, faults, throttle, latency)", flush=True)
    return serve_until_interrupted(sb)


if __name__ == "__main__":
    sys.exit(main())
