"""Canvas pagination: ``Link`` headers (lib/api.rb ``Api.paginate`` / ``build_links``).

Numbered pages carry ``current,next,prev,first,last``; bookmark pages carry
``current,next,first`` and never ``last``. URLs are absolute, keep every query
parameter except page, per_page, access_token and api_key (sorted like Rails'
``to_query``), then append ``page=...&per_page=...``.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import parse_qsl, quote_plus

from .errors import not_found

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
EXCLUDE_IN_LINKS = {"page", "per_page", "access_token", "api_key"}
_LEADING_INT = re.compile(r"^\s*[-+]?\d+")


class Query:
    """Parsed query string with Rails-like accessors (``key[]`` arrays, last scalar wins)."""

    def __init__(self, raw: str = "", pairs: list[tuple[str, str]] | None = None):
        self.raw = raw
        self.pairs = pairs if pairs is not None else parse_qsl(raw, keep_blank_values=True)

    def get(self, name: str, default=None):
        value = default
        for k, v in self.pairs:
            if k == name:
                value = v
        return value

    def getlist(self, name: str) -> list[str]:
        values = [v for k, v in self.pairs if k == name + "[]"]
        if values:
            return values
        scalar = self.get(name)
        return [scalar] if scalar is not None else []

    def has(self, name: str) -> bool:
        return any(k == name or k == name + "[]" for k, _ in self.pairs)

    def redacted(self) -> str:
        """The query for logs: the access token never reaches a log line."""
        return "&".join(f"{quote_plus(k)}={'[REDACTED]' if k in ('access_token', 'api_key') else quote_plus(v)}"
                        for k, v in self.pairs)


def ruby_to_i(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    m = _LEADING_INT.match(value)
    return int(m.group(0)) if m else 0


def per_page(query: Query, default: int = DEFAULT_PER_PAGE, maximum: int = MAX_PER_PAGE) -> int:
    """``per_page`` default 10, silently clamped to [1, 100]."""
    return min(max(ruby_to_i(query.get("per_page"), default), 1), maximum)


def link_query(query: Query) -> str:
    chunks: dict[str, list[str]] = {}
    scalars: dict[str, str] = {}
    order: list[str] = []
    for k, v in query.pairs:
        if k in EXCLUDE_IN_LINKS:
            continue
        if k.endswith("[]"):
            base = k[:-2]
            if base not in chunks:
                chunks[base] = []
                order.append(base)
            chunks[base].append(f"{quote_plus(base)}%5B%5D={quote_plus(v)}")
        else:
            if k not in scalars and k not in chunks:
                order.append(k)
            scalars[k] = v
    parts = []
    for k in order:
        if k in chunks:
            parts.append("&".join(chunks[k]))
        elif k in scalars:
            parts.append(f"{quote_plus(k)}={quote_plus(scalars[k])}")
    return "&".join(sorted(parts))


# Canvas caps the Link header (about 6 KB) and drops the least useful rels first, so a
# long query string (many assignment_ids[]) can cost a client its `last` link.
MAX_LINK_HEADER = 6000
DROP_ORDER = ("first", "current", "prev", "last")  # `next` is never dropped


def link_header(base_url: str, path: str, query: Query, rels: list[tuple[str, str]], per_page_n: int) -> str:
    qs = link_query(query)
    prefix = f"{base_url}{path}?" + (qs + "&" if qs else "")
    entries = [(rel, f'<{prefix}page={page}&per_page={per_page_n}>; rel="{rel}"') for rel, page in rels]
    for rel_to_drop in DROP_ORDER:
        if len(",".join(e for _, e in entries)) <= MAX_LINK_HEADER:
            break
        entries = [(rel, e) for rel, e in entries if rel != rel_to_drop]
    return ",".join(e for _, e in entries)


def page_number(query: Query) -> int:
    """will_paginate: a page that is not a positive integer is ``InvalidPage`` -> 404."""
    raw = query.get("page")
    if raw is None or raw == "":
        return 1
    if not re.fullmatch(r"\d+", raw.strip()) or int(raw) < 1:
        raise not_found()
    return int(raw)


def paginate_numbered(items: list, query: Query, base_url: str, path: str) -> tuple[list, str]:
    """Slice ``items`` for the requested page; returns (page items, Link header)."""
    n = per_page(query)
    page = page_number(query)
    total_pages = max(1, -(-len(items) // n))
    chunk = items[(page - 1) * n: page * n]
    rels = [("current", str(page))]
    if page < total_pages:
        rels.append(("next", str(page + 1)))
    if page > 1:
        rels.append(("prev", str(page - 1)))
    rels.append(("first", "1"))
    rels.append(("last", str(total_pages)))
    return chunk, link_header(base_url, path, query, rels, n)


def encode_bookmark(value) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return "bookmark:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_bookmark(page: str | None):
    """None for the first page (no page or ``page=first``); an invalid bookmark is a 404."""
    if page is None or page == "" or page == "first":
        return None
    if not page.startswith("bookmark:"):
        raise not_found()
    token = page[len("bookmark:"):]
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise not_found() from None
    if not isinstance(value, list) or not value:
        raise not_found()
    return value


def bookmark_links(base_url: str, path: str, query: Query, current: str, next_bookmark: str | None,
                   per_page_n: int) -> str:
    rels = [("current", current)]
    if next_bookmark:
        rels.append(("next", next_bookmark))
    rels.append(("first", "first"))
    return link_header(base_url, path, query, rels, per_page_n)
