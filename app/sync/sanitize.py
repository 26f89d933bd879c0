"""Content crossing systems is untrusted: HTML is cleaned with nh3 (Ammonia) before it is stored,
shown or sent on, and links keep only http(s) schemes."""
from __future__ import annotations

from urllib.parse import urlsplit

import nh3

URL_SCHEMES = {"http", "https"}


def sanitize_html(html: str | None) -> str:
    """Safe HTML: scripts, event handlers, styles and non-http(s) links removed."""
    return nh3.clean(html or "", url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")


def safe_url(url: str | None) -> str | None:
    """The URL when it is http(s), else None (javascript:, data:, relative tricks)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in URL_SCHEMES else None
