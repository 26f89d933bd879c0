"""The shared client against a hostile Canvas (tests/fixtures/hostile.py), under production rules.

Each misbehaviour is refused or bounded with a plain message; the internal service never
receives a request (so no token reaches it), and reading never costs the process 50 MB.
"""
from __future__ import annotations

import threading
import time

import psutil
import pytest

from app.services.canvas_api_service import BadResponse, CanvasAPIError, CanvasAPIService
from app.services.classroom_api_service import ClassroomAPIService
from app.services.discourse_api_service import DiscourseAPIService
from app.services.egress import EgressPolicy
from app.services.http import ApiError, build_session
from app.services.schoology_api_service import SchoologyAPIService

TOKEN = "hostile-test-token-0123456789"
# Production rules, with the hostile server's name allowed as an operator would allow a host.
PRODUCTION = EgressPolicy(allow_private=False, require_https=True, allow_hosts=frozenset({"localhost"}))
MB = 1024 * 1024


def canvas(upstream, mode: str, policy: EgressPolicy = PRODUCTION, **kwargs) -> CanvasAPIService:
    kwargs.setdefault("backoff_factor", 0.01)
    kwargs.setdefault("max_retries", 1)
    return CanvasAPIService(upstream.base_url(mode), TOKEN, policy=policy, **kwargs)


class PeakRSS:
    """The most this process's RSS grew over a block (sampled every 5 ms by a thread)."""

    def __enter__(self):
        self._process = psutil.Process()
        self.baseline = self.peak = self._process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def assert_nothing_reached_the_internal_service(upstream):
    assert upstream.internal_requests == []
    assert all(seen.headers.get("Authorization") == f"Bearer {TOKEN}" for seen in upstream.requests)


def test_a_redirect_to_loopback_is_not_followed(hostile_upstream):
    with canvas(hostile_upstream, "redirect-loopback") as api, pytest.raises(CanvasAPIError) as caught:
        api.get_self()
    assert caught.value.refusal == "redirect" and not caught.value.retriable
    assert caught.value.message == ("Canvas redirected users/self to another address; not following it.")
    assert "INTERNAL" not in caught.value.message
    assert_nothing_reached_the_internal_service(hostile_upstream)


def test_a_redirect_elsewhere_is_refused_in_development_too(hostile_upstream):
    with canvas(hostile_upstream, "redirect-loopback", policy=EgressPolicy()) as api, \
            pytest.raises(CanvasAPIError) as caught:
        api.get_self()
    assert caught.value.refusal == "redirect"
    assert hostile_upstream.internal_requests == []


def test_a_next_link_to_another_origin_is_refused(hostile_upstream):
    with canvas(hostile_upstream, "cross-next") as api, pytest.raises(CanvasAPIError) as caught:
        api.get_courses()
    assert caught.value.refusal == "origin"
    assert "points at another address" in caught.value.message
    assert_nothing_reached_the_internal_service(hostile_upstream)


def test_an_ever_changing_next_link_stops_at_the_page_limit(hostile_upstream):
    with canvas(hostile_upstream, "changing-next", max_pages=25) as api, pytest.raises(BadResponse) as caught:
        api.get_courses()
    assert "kept sending pages of courses" in caught.value.message
    assert len(hostile_upstream.requests) == 25


def test_a_far_last_page_is_followed_by_next_not_expanded(hostile_upstream):
    with PeakRSS() as rss, canvas(hostile_upstream, "far-last", max_pages=40) as api, \
            pytest.raises(BadResponse) as caught:
        api.get_courses()
    assert "kept sending pages" in caught.value.message
    assert len(hostile_upstream.requests) == 40  # page by page, never a million URLs at once
    assert rss.growth < 50 * MB


@pytest.mark.parametrize("mode", ["huge", "huge-length"])
def test_a_300_mb_answer_is_refused_without_reading_it_whole(hostile_upstream, mode):
    with PeakRSS() as rss, canvas(hostile_upstream, mode) as api, pytest.raises(CanvasAPIError) as caught:
        api.get_self()
    assert caught.value.refusal == "too_large"
    assert caught.value.message.startswith("Canvas's answer for users/self was too large")
    assert rss.growth < 50 * MB, f"RSS grew {rss.growth // MB} MB"


def test_a_slow_drip_is_cut_off_at_the_total_deadline(hostile_upstream):
    started = time.monotonic()
    with canvas(hostile_upstream, "drip", deadline_s=2.0, timeout=10.0) as api, \
            pytest.raises(CanvasAPIError) as caught:
        api.get_self()
    elapsed = time.monotonic() - started
    assert caught.value.refusal == "deadline" and caught.value.retriable
    assert "took too long to answer users/self" in caught.value.message
    # Each byte comes within the read timeout; the whole answer would take 100 s.
    assert elapsed < 30, elapsed


def test_an_upstream_error_body_is_never_shown(hostile_upstream):
    with canvas(hostile_upstream, "error-body") as api, pytest.raises(CanvasAPIError) as caught:
        api.get_courses()
    assert caught.value.message == "Canvas refused the request for courses (400)."
    assert caught.value.status == 400 and not caught.value.retriable


def test_a_name_that_resolves_to_loopback_after_the_save_is_refused_at_connect(hostile_upstream):
    """DNS rebinding: the name was checked when saved; now it answers 127.0.0.1."""
    port = hostile_upstream.internal.port
    rebinding = EgressPolicy(allow_private=False, resolver=lambda host, _port: ["127.0.0.1"])
    api = CanvasAPIService(f"http://canvas.rebinding.test:{port}", TOKEN, policy=rebinding, max_retries=1)
    with api, pytest.raises(CanvasAPIError) as caught:
        api.get_self()
    assert caught.value.refusal == "egress"
    assert "private or local network" in caught.value.message
    assert hostile_upstream.internal_requests == []


def test_a_url_saved_before_the_rules_is_refused_after(hostile_upstream):
    api = CanvasAPIService(hostile_upstream.internal_url, TOKEN, policy=PRODUCTION, max_retries=1)
    with api, pytest.raises(CanvasAPIError) as caught:
        api.get_self()
    assert caught.value.refusal == "egress"
    assert hostile_upstream.internal_requests == []


def test_an_allowed_internal_host_is_reached(hostile_upstream):
    allowed = EgressPolicy(allow_private=False, allow_hosts=frozenset({"127.0.0.1"}))
    with CanvasAPIService(hostile_upstream.internal_url, TOKEN, policy=allowed) as api:
        assert api.get_self()["id"] == 1
    assert len(hostile_upstream.internal_requests) == 1


def _every_client(upstream, mode: str):
    """Each system's client pointed at the hostile server, and its first call."""
    session = build_session(policy=PRODUCTION, total_retries=1)
    base = upstream.base_url(mode)
    classroom = ClassroomAPIService(session, TOKEN, classroom_url=base, reports_url=base)
    schoology = SchoologyAPIService(session, "key", "secret", api_url=base, max_attempts=2)
    discourse = DiscourseAPIService(base, "api-key-0123", session=session, max_retries=1)

    def canvas_self():
        with canvas(upstream, mode) as api:
            return api.get_self()

    return {
        "canvas": canvas_self,
        "classroom": lambda: list(classroom.iter_courses()),
        "schoology": lambda: schoology.get_me(),
        "discourse": lambda: discourse.categories(),
    }


@pytest.mark.parametrize("system", ["canvas", "classroom", "schoology", "discourse"])
@pytest.mark.parametrize("mode, refusal", [("redirect-loopback", "redirect"), ("huge", "too_large")])
def test_every_client_refuses_the_same_way(hostile_upstream, system, mode, refusal):
    with PeakRSS() as rss, pytest.raises(ApiError) as caught:
        _every_client(hostile_upstream, mode)[system]()
    assert caught.value.refusal == refusal and not caught.value.retriable
    assert "INTERNAL" not in caught.value.message
    assert hostile_upstream.internal_requests == []
    assert rss.growth < 50 * MB
