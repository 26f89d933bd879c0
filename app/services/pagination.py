"""Canvas `Link`-header pagination as small objects (cf. singer-sdk's paginators)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests


def link_rels(response: requests.Response) -> dict[str, str]:
    """rel -> URL from the Link header (requests matches the header name case-insensitively)."""
    return {rel: link["url"] for rel, link in response.links.items()}


def numbered_page(url: str) -> int | None:
    """The page number of a numbered-page URL, None for bookmarks (`page=bookmark:...`, `page=first`)."""
    values = parse_qs(urlsplit(url).query).get("page")
    if values and values[0].isdigit():
        return int(values[0])
    return None


def with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in _pairs(parts.query) if k != "page"] + [("page", str(page))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _pairs(query: str) -> list[tuple[str, str]]:
    return [(k, v) for k, values in parse_qs(query, keep_blank_values=True).items() for v in values]


def known_page_urls(response: requests.Response) -> list[str] | None:
    """URLs of pages 2..last when Canvas told us the last page number; None when it did not.

    Only numbered pages with a `last` link can be fetched concurrently; bookmark pages
    and lists whose `last` was dropped must be walked one `next` at a time.
    """
    rels = link_rels(response)
    last = rels.get("last")
    if not last or "next" not in rels:
        return None
    last_page, next_page = numbered_page(last), numbered_page(rels["next"])
    if last_page is None or next_page is None:
        return None
    return [with_page(rels["next"], page) for page in range(next_page, last_page + 1)]


class NextLinkPaginator:
    """Follows `rel="next"` one page at a time; stops on a repeat (Canvas can loop on bookmarks)."""

    def __init__(self, first_url: str):
        self.next_url: str | None = first_url
        self._seen: set[str] = set()

    @property
    def has_more(self) -> bool:
        return self.next_url is not None

    def advance(self, response: requests.Response) -> None:
        self._seen.add(self.next_url)
        self._seen.add(response.url)
        candidate = link_rels(response).get("next")
        self.next_url = candidate if candidate and candidate not in self._seen else None
