"""Jinja filters: safe_url keeps http(s) links only, clean_html cleans stored HTML again; the planner uses them."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.web.filters import clean_html, safe_url
from tests.web.conftest import add_assignment, add_course


@pytest.mark.parametrize("url, shown", [
    ("https://canvas.example.edu/courses/1/assignments/2", "https://canvas.example.edu/courses/1/assignments/2"),
    ("http://canvas.example.edu/a", "http://canvas.example.edu/a"),
    ("javascript:alert(document.cookie)", None),
    (" JavaScript:alert(1)", None),
    ("data:text/html,<script>alert(1)</script>", None),
    ("vbscript:msgbox", None),
    ("//evil.example/x", None),
    ("", None),
    (None, None),
])
def test_safe_url_keeps_only_http_and_https(url, shown):
    assert safe_url(url) == shown


def test_clean_html_drops_scripts_and_javascript_links():
    cleaned = str(clean_html('<p onclick="x()">Hi<script>alert(1)</script> <a href="javascript:alert(2)">x</a></p>'))
    assert "<script" not in cleaned and "javascript:" not in cleaned and "onclick" not in cleaned
    assert cleaned.startswith("<p>Hi")


def test_planner_never_links_a_javascript_html_url(logged_in, user):
    course = add_course(user, "Biology 101")
    add_assignment(course, "Poisoned link", due_in=timedelta(days=2), html_url="javascript:alert(document.cookie)")
    add_assignment(course, "Real link", due_in=timedelta(days=3),
                   html_url="https://canvas.example.edu/courses/1/assignments/2")
    db.session.commit()
    for path in ("/", f"/courses/{course.id}"):
        html = logged_in.get(path).get_data(as_text=True)
        assert "javascript:" not in html, path
        assert "Poisoned link" in html  # still listed, just not as a link
        assert 'href="https://canvas.example.edu/courses/1/assignments/2"' in html
