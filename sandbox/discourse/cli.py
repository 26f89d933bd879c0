"""Command line: ``python -m sandbox.discourse`` (and the app's ``flask sandbox discourse`` wrapper)."""
from __future__ import annotations

import argparse
import sys

from ..serving import serve_until_interrupted
from .faults import FAULT_KINDS

DEFAULT_PORT = 8766


def build_parser(prog: str = "python -m sandbox.discourse") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Sandbox Discourse server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("--api-key", default="sandbox-key", help="the valid admin API key (default sandbox-key)")
    parser.add_argument("--categories", type=int, default=2, help="course categories (default 2)")
    parser.add_argument("--topics", type=int, default=2, help="topics per category (default 2)")
    parser.add_argument("--replies", type=int, default=2, help="replies per topic (default 2)")
    parser.add_argument("--throttle-limit", type=int, default=60, help="admin API requests per window (60)")
    parser.add_argument("--throttle-window", type=float, default=60.0, help="throttle window in seconds (60)")
    parser.add_argument("--no-throttle", dest="throttle", action="store_false", default=True)
    parser.add_argument("--faults", type=float, default=0.0, metavar="RATE", help="fraction of API requests failing")
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS), help=f"subset of {','.join(FAULT_KINDS)}")
    parser.add_argument("--webhook-url", default=None, help="deliver signed webhooks here (http://127.0.0.1 only)")
    parser.add_argument("--webhook-secret", default=None, help="webhook signing secret")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    from .runner import DiscourseSandbox

    args = build_parser().parse_args(argv)
    sb = DiscourseSandbox(api_key=args.api_key, categories=args.categories, topics_per_category=args.topics,
                          replies_per_topic=args.replies, throttle=args.throttle, throttle_limit=args.throttle_limit,
                          throttle_window_s=args.throttle_window, faults=args.faults,
                          fault_kinds=[k for k in args.fault_kinds.split(",") if k], port=args.port,
                          verbose=args.verbose)
    if args.webhook_url:
        sb.add_webhook(args.webhook_url, args.webhook_secret)
    sb.start()
    print(f"Sandbox Discourse running at {sb.base_url}", flush=True)
    print(f"Api-Key: {sb.api_key}  Api-Username: {sb.api_username}", flush=True)
    print(f"Data: {sb.forum.summary()}; throttle {args.throttle_limit}/{args.throttle_window:g}s "
          f"{'on' if args.throttle else 'off'}, faults {args.faults:g}", flush=True)
    print(f"Control: {sb.base_url}/__sandbox__/ (health, log, act, faults, throttle, clock, webhooks)", flush=True)
    return serve_until_interrupted(sb)


if __name__ == "__main__":
    sys.exit(main())
