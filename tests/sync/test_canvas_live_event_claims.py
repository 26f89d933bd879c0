"""Live Event JWTs: exp and iat required, iat within a window, iss/aud when configured; malformed is 400."""
from __future__ import annotations

import json
import time

import pytest

from app.sync.connectors.base import WebhookRejected
from app.sync.connectors.canvas import CanvasConnector
from tests.sync.live_events import keys, sign_event  # noqa: F401 (fixture)

EVENT = {"metadata": {"event_name": "discussion_topic_created", "context_type": "Course", "context_id": "101"},
         "body": {"discussion_topic_id": "66871", "context_id": "101", "context_type": "Course", "title": "Pushed",
                  "body": "<p>Pushed</p>", "updated_at": "2026-12-01T10:00:00.218Z", "workflow_state": "active"}}


def connector(keys, **kwargs) -> CanvasConnector:
    return CanvasConnector(None, jwks=json.dumps(keys["jwks"]), **kwargs)


def refused(connector: CanvasConnector, token: bytes) -> int:
    with pytest.raises(WebhookRejected) as caught:
        connector.parse_webhook({}, token)
    return caught.value.status


def test_a_fresh_event_with_exp_and_iat_is_taken(keys):
    [change] = connector(keys).parse_webhook({}, sign_event(EVENT, keys["good"]))
    assert change.data["title"] == "Pushed"


@pytest.mark.parametrize("claims", [
    {"exp": None},  # never expires: refused
    {"iat": None},
    {"exp": int(time.time()) - 600},  # expired
    {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200},  # issued in the future
    {"iat": int(time.time()) - 7200, "exp": int(time.time()) + 7200},  # older than the window, whatever exp says
])
def test_an_event_outside_its_window_is_refused(keys, claims):
    assert refused(connector(keys), sign_event(EVENT, keys["good"], **claims)) == 401


def test_issuer_and_audience_are_checked_when_configured(keys):
    strict = connector(keys, issuer="https://canvas.instructure.com", audience="canvasflow.school.edu")
    good = sign_event(EVENT, keys["good"], iss="https://canvas.instructure.com", aud="canvasflow.school.edu")
    assert len(strict.parse_webhook({}, good)) == 1
    for claims in ({"iss": "https://evil.example", "aud": "canvasflow.school.edu"},
                   {"iss": "https://canvas.instructure.com", "aud": "someone-else"},
                   {"aud": "canvasflow.school.edu"}):
        assert refused(strict, sign_event(EVENT, keys["good"], **claims)) == 401
    # Unconfigured, neither is required.
    assert len(connector(keys).parse_webhook({}, sign_event(EVENT, keys["good"], aud="anything"))) == 1


@pytest.mark.parametrize("event", [
    {"metadata": {"event_name": "discussion_topic_created"}, "body": {"title": "no topic id"}},
    {"metadata": {"event_name": "discussion_entry_created"}, "body": {"discussion_topic_id": "1"}},
    {"metadata": {"event_name": "discussion_topic_created"}, "body": ["not", "an", "object"]},
    {"metadata": "not an object", "body": {}},
    {"metadata": {"event_name": "discussion_topic_created"},
     "body": {"discussion_topic_id": "1", "context_id": "101", "updated_at": "yesterday-ish"}},
])
def test_a_signed_but_malformed_event_is_refused_with_400(keys, event):
    assert refused(connector(keys), sign_event(event, keys["good"])) == 400
