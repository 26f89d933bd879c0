"""Missing work whatever its age; filters by course, source and state; title search; days ahead."""
from __future__ import annotations

import re
from datetime import timedelta

from app.extensions import db
from app.models import PlannerMark
from tests.web.conftest import add_assignment, add_course, add_submission, now

ME = 77


def names(page: str) -> list[str]:
    return re.findall(r'<li class="item[^"]*"[^>]*>.*?rel="noopener noreferrer">([^<]+)</a>', page, re.S) + \
        re.findall(r'<li class="item[^"]*"[^>]*>\s*<span class="when">[^<]*</span>\s*<span class="what">([^<]+)<', page)


def seed(user):
    bio = add_course(user, "Biology")
    art = add_course(user, "Art", source_system="classroom")
    old = add_assignment(bio, "Homework 1", due_in=timedelta(days=-60), html_url="https://c.example/1")
    add_submission(old, ME, missing=True)
    late = add_assignment(art, "Sketchbook", due_in=timedelta(days=-20), html_url="https://c.example/2")
    add_submission(late, ME)
    handed = add_assignment(bio, "Lab 2", due_in=timedelta(days=-5), html_url="https://c.example/3")
    add_submission(handed, ME, submitted_at=now(), workflow_state="submitted")
    marked = add_assignment(bio, "Homework 2", due_in=timedelta(days=-3), html_url="https://c.example/4")
    add_submission(marked, ME)
    db.session.add(PlannerMark(user_id=user.id, assignment_id=marked.id, done=True))
    soon = add_assignment(bio, "Quiz soon", due_in=timedelta(days=3), html_url="https://c.example/5")
    add_submission(soon, ME)
    later = add_assignment(art, "Portfolio", due_in=timedelta(days=25), html_url="https://c.example/6")
    add_submission(later, ME)
    db.session.commit()
    return bio, art


def test_missing_lists_overdue_work_of_any_age_newest_first(logged_in, user):
    seed(user)
    page = logged_in.get("/missing").get_data(as_text=True)
    assert names(page) == ["Sketchbook", "Homework 1"]  # Lab 2 handed in, Homework 2 marked done
    assert "Missing</span>" in page and "Overdue</span>" in page
    done = logged_in.get("/missing?state=done").get_data(as_text=True)
    assert names(done) == ["Homework 2"]


def test_filters_and_search_narrow_missing_and_upcoming(logged_in, user):
    bio, art = seed(user)
    assert names(logged_in.get(f"/missing?course={bio.id}").get_data(as_text=True)) == ["Homework 1"]
    assert names(logged_in.get("/missing?source=classroom").get_data(as_text=True)) == ["Sketchbook"]
    assert names(logged_in.get("/missing?q=homework").get_data(as_text=True)) == ["Homework 1"]
    assert names(logged_in.get("/missing?q=100%25").get_data(as_text=True)) == []  # % is a character, not a wildcard
    assert names(logged_in.get("/missing?state=todo").get_data(as_text=True)) == []

    def upcoming(query: str) -> list[str]:
        page = logged_in.get(f"/{query}").get_data(as_text=True)
        return names(page[page.index('id="upcoming') if 'id="upcoming"' in page else len(page):])

    assert upcoming("") == ["Quiz soon"]
    assert upcoming("?days=30") == ["Quiz soon", "Portfolio"]
    assert upcoming("?days=30&source=classroom") == ["Portfolio"]
    assert upcoming("?days=30&q=quiz") == ["Quiz soon"]
    assert upcoming(f"?days=30&course={art.id}&q=quiz") == []
    assert upcoming("?days=999") == ["Quiz soon"]  # an unknown span is the default 14 days
    page = logged_in.get("/?days=7").get_data(as_text=True)
    assert "Due in the next 7 days" in page and 'id="planner-filters"' in page
