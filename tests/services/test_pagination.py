import requests

from app.services.pagination import NextLinkPaginator, known_page_urls, numbered_page, with_page


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


def test_next_link_paginator_stops_on_repeat():
    first = f"{BASE}&page=first"
    paginator = NextLinkPaginator(first)
    second = f"{BASE}&page=bookmark:Mg"
    paginator.advance(_response(first, f'<{second}>; rel="next"'))
    assert paginator.next_url == second
    paginator.advance(_response(second, f'<{second}>; rel="next"'))  # Canvas repeating itself
    assert not paginator.has_more


def test_with_page_replaces_only_page():
    assert numbered_page(with_page(f"{BASE}&page=2", 9)) == 9
    assert numbered_page("http://x/api/v1/a?page=bookmark:abc") is None
