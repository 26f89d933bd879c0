"""Small HTTP helpers for the sandbox tests: every call has a timeout, every loop a bound."""
from __future__ import annotations

import re

import requests

TIMEOUT = 10
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LINK_ENTRY = re.compile(r'^<(?P<url>https?://[^>]+)>; rel="(?P<rel>[a-z]+)"$')


def session(sb, token: str | None = None) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token or sb.token}"
    return s


def get(sb, path: str, params=None, token: str | None = None, headers=None, **kwargs) -> requests.Response:
    h = {"Authorization": f"Bearer {token or sb.token}", **(headers or {})}
    return requests.get(sb.api_url + path, params=params, headers=h, timeout=kwargs.pop("timeout", TIMEOUT),
                        **kwargs)


def parse_link(header: str) -> dict[str, str]:
    """Parse a Canvas Link header strictly: ``<abs-url>; rel="x"`` entries joined by commas."""
    rels = {}
    for part in header.split(","):
        m = LINK_ENTRY.match(part.strip())
        assert m, f"malformed Link entry: {part!r}"
        rels[m["rel"]] = m["url"]
    return rels


def follow_next(s: requests.Session, url: str, params=None, max_pages: int = 2000) -> tuple[list, list]:
    """Read a list by following only rel=next; returns (rows, responses)."""
    rows, responses, seen = [], [], set()
    r = s.get(url, params=params, timeout=TIMEOUT)
    for _ in range(max_pages):
        assert r.status_code == 200, r.text
        responses.append(r)
        rows.extend(r.json())
        nxt = parse_link(r.headers["Link"]).get("next")
        if not nxt:
            return rows, responses
        assert nxt not in seen, "next link repeats"
        seen.add(nxt)
        r = s.get(nxt, timeout=TIMEOUT)
    raise AssertionError("pagination did not end")
