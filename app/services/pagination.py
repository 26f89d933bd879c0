"""Paginators as small objects (cf. singer-sdk's): one per way a system pages its lists.

Each paginator counts pages and refuses more than `max_pages`, detects a page it has
already seen, and, where the next page is a URL the server names, takes it only through
`check_link` (the client's origin check): a list never leads the client to another host.

* `LinkHeaderPaginator`: Canvas's `Link` header, numbered and bookmark pages;
* `PageTokenPaginator`: Google's `nextPageToken`;
* `NextLinkPaginator`: Schoology's `links.next` in the body;
* `PageNumberPaginator`: Discourse's `page=N` while `more_topics_url` is given.
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests

from app.services.egress import app_setting

# A numbered `last` further away than this is never expanded into a list of URLs: the
# list is walked one `next` at a time instead (a hostile `last` costs no memory).
MAX_EXPANDED_PAGES = 1000
DEFAULT_MAX_PAGES = 2000


def max_pages_setting(max_pages: int | None) -> int:
    """`max_pages` when given, else the app's OUTBOUND_MAX_PAGES."""
    return max_pages or int(app_setting("OUTBOUND_MAX_PAGES", DEFAULT_MAX_PAGES))


class PaginationError(ValueError):
    """A list that would not end: `reason` is "loop" or "pages"; the client words it."""

    def __init__(self, reason: str, pages: int):
        super().__init__(reason)
        self.reason = reason
        self.pages = pages


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


def known_page_urls(response: requests.Response, max_pages: int = MAX_EXPANDED_PAGES) -> list[str] | None:
    """URLs of pages 2..last when Canvas told us the last page number; None when it did not,
    or when `last` is more than `max_pages` pages away (then `next` is followed instead).

    Only numbered pages with a `last` link can be fetched concurrently; bookmark pages
    and lists whose `last` was dropped must be walked one `next` at a time.
    """
    rels = link_rels(response)
    last = rels.get("last")
    if not last or "next" not in rels:
        return None
    last_page, next_page = numbered_page(last), numbered_page(rels["next"])
    if last_page is None or next_page is None or last_page - next_page >= max_pages:
        return None
    return [with_page(rels["next"], page) for page in range(next_page, last_page + 1)]


class Paginator:
    """Counts pages and remembers what it has seen; subclasses say what the next page is."""

    def __init__(self, *, max_pages: int = DEFAULT_MAX_PAGES):
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set = set()
        self.has_more = True

    def _page_read(self) -> None:
        self.pages += 1
        if self.pages >= self.max_pages:
            raise PaginationError("pages", self.pages)

    def _first_time(self, key) -> None:
        if key in self._seen:
            raise PaginationError("loop", self.pages)
        self._seen.add(key)


class LinkHeaderPaginator(Paginator):
    """Follows `rel="next"` one page at a time (Canvas: numbered or bookmark pages); a next
    link already seen ends the list (Canvas repeats its last bookmark)."""

    def __init__(self, first_url: str, *, check_link: Callable[[str, str], str], max_pages: int = DEFAULT_MAX_PAGES):
        super().__init__(max_pages=max_pages)
        self.next_url: str | None = first_url
        self.check_link = check_link

    def advance(self, response: requests.Response) -> None:
        self._seen.add(self.next_url)
        self._seen.add(response.url)
        candidate = link_rels(response).get("next")
        if not candidate:
            self.next_url, self.has_more = None, False
            return
        if candidate in self._seen:  # Canvas can repeat a bookmark at the end of a list: that is the end
            self.next_url, self.has_more = None, False
            return
        self._page_read()
        self.next_url = self.check_link(candidate, "next page link")

    def skip(self, pages: int) -> None:
        """Pages fetched another way (concurrently, from known numbers) count against the bound."""
        self.pages += pages
        if self.pages >= self.max_pages:
            raise PaginationError("pages", self.pages)


class PageTokenPaginator(Paginator):
    """Google's `nextPageToken`: absent or empty at the end, a repeat is a loop."""

    def __init__(self, *, max_pages: int = DEFAULT_MAX_PAGES):
        super().__init__(max_pages=max_pages)
        self.token: str | None = None

    def advance(self, body: dict) -> None:
        token = body.get("nextPageToken")
        if not token:
            self.token, self.has_more = None, False
            return
        self._page_read()
        self._first_time(token)
        self.token = token


class NextLinkPaginator(Paginator):
    """A `next` URL in the body (Schoology's `links.next`); stops on an empty page."""

    def __init__(self, first_url: str, *, check_link: Callable[[str, str], str], max_pages: int = DEFAULT_MAX_PAGES):
        super().__init__(max_pages=max_pages)
        self.next_url: str | None = first_url
        self.check_link = check_link

    def advance(self, next_url: str | None, rows: int) -> None:
        if not next_url or not rows:
            self.next_url, self.has_more = None, False
            return
        self._page_read()
        url = self.check_link(next_url, "next page link")
        self._first_time(url)
        self.next_url = url


class PageNumberPaginator(Paginator):
    """Discourse's topic lists: `page=N` while the answer names a `more_topics_url`."""

    def __init__(self, *, max_pages: int = DEFAULT_MAX_PAGES):
        super().__init__(max_pages=max_pages)
        self.page = 0

    def advance(self, items: list, more: bool) -> None:
        if not items or not more:
            self.has_more = False
            return
        self._page_read()
        self.page += 1
