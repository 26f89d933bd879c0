import requests

import pytest

from app.services.pagination import (
    LinkHeaderPaginator,
    NextLinkPaginator,
    PageNumberPaginator,
    PageTokenPaginator,
    PaginationError,
    known_page_urls,
    numbered_page,
    with_page,
)


def _response(url: str, link: str | None) -> requests.Response:
    response = requests.Response()
    response.url = url
    if link is not None:
        response.headers["link"] = link  # lower-case: the header name is case-insensitive
    return response


BASE = "http://canvas.test/api/v1/courses?include%5B%5D=term&per_page=100"


def test_known_pages_from_numbered_links_with_last():
    link = (f'<{BASE}&page=1>; rel="current",<{BASE}&page=2>; rel="next",'
            f'<{BASE}&page=1>; rel="first",<{BASE}&page=4>; rel="last"')
    urls = known_page_urls(_response(f"{BASE}&page=1", link))
    assert [numbered_page(u) for u in urls] == [2, 3, 4]
    assert all("include%5B%5D=term" in u and "per_page=100" in u for u in urls)


def test_no_known_pages_without_last_or_with_bookmarks():
    assert known_page_urls(_response(BASE, f'<{BASE}&page=2>; rel="next"')) is None
    bookmark = f'<{BASE}&page=bookmark:WzEyM10>; rel="next",<{BASE}&page=first>; rel="first"'
    assert known_page_urls(_response(BASE, bookmark)) is None
    assert known_page_urls(_response(BASE, None)) is None


def _same_host(url, what):
    if not url.startswith("http://canvas.test/"):
        raise LookupError(what)
    return url


def test_link_header_paginator_stops_on_repeat():
    first = f"{BASE}&page=first"
    paginator = LinkHeaderPaginator(first, check_link=_same_host)
    second = f"{BASE}&page=bookmark:Mg"
    paginator.advance(_response(first, f'<{second}>; rel="next"'))
    assert paginator.next_url == second
    paginator.advance(_response(second, f'<{second}>; rel="next"'))  # Canvas repeating itself
    assert not paginator.has_more


def test_with_page_replaces_only_page():
    assert numbered_page(with_page(f"{BASE}&page=2", 9)) == 9
    assert numbered_page("http://x/api/v1/a?page=bookmark:abc") is None


def test_a_far_last_page_is_not_expanded():
    link = f'<{BASE}&page=2>; rel="next",<{BASE}&page=1000000>; rel="last"'
    assert known_page_urls(_response(f"{BASE}&page=1", link)) is None
    near = f'<{BASE}&page=2>; rel="next",<{BASE}&page=1000>; rel="last"'
    assert len(known_page_urls(_response(f"{BASE}&page=1", near))) == 999


def test_link_header_paginator_refuses_other_hosts_and_stops_at_max_pages():
    paginator = LinkHeaderPaginator(BASE, check_link=_same_host, max_pages=3)
    with pytest.raises(LookupError):
        paginator.advance(_response(BASE, '<http://127.0.0.1:9/x?page=2>; rel="next"'))
    paginator = LinkHeaderPaginator(BASE, check_link=_same_host, max_pages=3)
    with pytest.raises(PaginationError) as caught:
        for page in range(2, 10):  # a next link that changes on every page
            paginator.advance(_response(paginator.next_url, f'<{BASE}&page={page}>; rel="next"'))
    assert caught.value.reason == "pages"


def test_page_token_paginator_detects_loops_and_ends():
    paginator = PageTokenPaginator()
    paginator.advance({"nextPageToken": "a"})
    assert paginator.token == "a" and paginator.has_more
    with pytest.raises(PaginationError) as caught:
        paginator.advance({"nextPageToken": "a"})
    assert caught.value.reason == "loop"
    paginator = PageTokenPaginator()
    paginator.advance({"nextPageToken": ""})
    assert not paginator.has_more


def test_next_link_paginator_checks_links_and_loops():
    paginator = NextLinkPaginator(BASE, check_link=_same_host)
    paginator.advance("http://canvas.test/v1/x?start=200", rows=200)
    assert paginator.next_url.endswith("start=200")
    with pytest.raises(PaginationError):
        paginator.advance("http://canvas.test/v1/x?start=200", rows=200)
    with pytest.raises(LookupError):
        NextLinkPaginator(BASE, check_link=_same_host).advance("http://10.0.0.1/v1/x", rows=1)
    ended = NextLinkPaginator(BASE, check_link=_same_host)
    ended.advance("http://canvas.test/v1/x?start=400", rows=0)
    assert not ended.has_more


def test_page_number_paginator_counts_and_stops():
    paginator = PageNumberPaginator(max_pages=3)
    paginator.advance([{"id": 1}], more=True)
    assert paginator.page == 1 and paginator.has_more
    paginator.advance([{"id": 2}], more=False)
    assert not paginator.has_more
    endless = PageNumberPaginator(max_pages=3)
    with pytest.raises(PaginationError):
        for _ in range(5):
            endless.advance([{"id": 1}], more=True)
