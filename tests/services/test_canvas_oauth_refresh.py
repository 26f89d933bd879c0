"""A sync signed in with Canvas refreshes its access token: before expiry, on a 401, once for all threads."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from app.extensions import db
from app.models import OAuthIdentity, SyncRun, User
from app.services.canvas_api_service import CanvasAPIService
from app.services.canvas_oauth import CanvasSignIn, canvas_provider, token_source_for
from app.services.canvas_sync_service import CanvasSyncService
from app.services.oauth_client import PolicyOAuth2Session, SharedAccessToken
from sandbox.canvas.oauth import DeveloperKey
from tests.fixtures.canvas_oauth import authorize_in_sandbox, configure_canvas_oauth
from tests.helpers import SteppingClock, snapshot

REDIRECT = "http://127.0.0.1:9/auth/canvas/callback"


def signed_in_user(sandbox) -> User:
    provider = canvas_provider()
    oauth = PolicyOAuth2Session(provider, redirect_uri=REDIRECT)
    uri, _state = oauth.authorization_url()
    code = parse_qs(urlsplit(authorize_in_sandbox(uri)).query)["code"][0]
    token = oauth.exchange_code(code)
    oauth.close()
    with CanvasAPIService(sandbox.base_url, token["access_token"]) as api:
        profile = api.get_self()
    user = CanvasSignIn(db.session, provider).complete(token, profile, None)
    db.session.commit()
    return user


def service_for(user: User, **api_kwargs) -> CanvasSyncService:
    api_kwargs = {"timeout": 5.0, "backoff_factor": 0.02, "max_retries": 4, **api_kwargs}
    return CanvasSyncService(db.session, CanvasAPIService.for_user(user, **api_kwargs), user)


def test_sync_across_several_token_expiries_gets_exact_data(app, make_canvas_sandbox, monkeypatch):
    sb = make_canvas_sandbox(courses=4, assignments=10, students=6, oauth_token_lifetime_s=2)
    configure_canvas_oauth(monkeypatch, app, sb)
    user = signed_in_user(sb)
    # Each token lookup moves the sandbox's clock by 50 ms: a 2-second token lasts about 20
    # requests (two lookups each), so a sync of a hundred requests and more outlives several tokens.
    sb.oauth.clock = SteppingClock(0.05)
    sb.oauth.expire_access_tokens()
    result = service_for(user, per_page=3).sync_all_data()
    assert result.ok, result.error
    assert sb.oauth.refreshes >= 3, len(sb.request_log)

    clean = make_canvas_sandbox(courses=4, assignments=10, students=6)
    other = User(email="pasted@example.com", canvas_base_url=clean.base_url)
    other.set_password("password-123")
    other.canvas_token = clean.token
    db.session.add(other)
    db.session.commit()
    assert service_for(other).sync_all_data().ok
    assert snapshot(user.id) == snapshot(other.id)
    assert snapshot(user.id)["submissions"]

    # The run kept the last token it was given; the next run starts with it.
    identity = db.session.scalar(select(OAuthIdentity).where(OAuthIdentity.user_id == user.id))
    pair, expired = sb.oauth.lookup(identity.access_token)
    assert pair is not None and db.session.get(User, user.id).canvas_token == identity.access_token


def test_threads_share_one_refresh(app, make_canvas_sandbox, monkeypatch):
    sb = make_canvas_sandbox()
    configure_canvas_oauth(monkeypatch, app, sb)
    user = signed_in_user(sb)
    sb.oauth.expire_access_tokens()
    before = sb.oauth.refreshes
    api = CanvasAPIService.for_user(user, timeout=5.0, max_retries=1)
    start = threading.Barrier(8)

    def call(_):
        start.wait(timeout=30)
        return api.get_self()["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(call, range(8)))
    api.close()
    assert ids == [sb.data.self_user["id"]] * 8
    assert sb.oauth.refreshes == before + 1


def test_refreshes_before_the_token_expires(app, make_canvas_sandbox, monkeypatch):
    sb = make_canvas_sandbox(oauth_token_lifetime_s=3600)
    configure_canvas_oauth(monkeypatch, app, sb)
    user = signed_in_user(sb)
    source = token_source_for(user)
    now = [source._expires_at - 30]  # inside the one-minute leeway
    proactive = SharedAccessToken(source.session, user.canvas_token, db.session.scalar(
        select(OAuthIdentity)).refresh_token, source._expires_at, lifetime_s=3600, clock=lambda: now[0])
    first = proactive.current()
    assert first != user.canvas_token and sb.oauth.refreshes == 1
    # The token given up on was never sent with a 401 first: no request failed.
    assert [e.status for e in sb.request_log if e.path.startswith("/api/")] == [200]
    assert proactive.current() == first and sb.oauth.refreshes == 1
    source.session.close()


def test_revoked_refresh_token_asks_to_connect_again_and_keeps_data(app, make_canvas_sandbox, monkeypatch):
    sb = make_canvas_sandbox()
    configure_canvas_oauth(monkeypatch, app, sb)
    user = signed_in_user(sb)
    assert service_for(user).sync_all_data().ok
    before = snapshot(user.id)
    assert before["submissions"]

    sb.oauth.revoke_refresh_token()  # the person removed Canvas Flow in Canvas's profile
    result = service_for(db.session.get(User, user.id)).sync_all_data()
    assert not result.ok
    assert result.error == ("Canvas no longer accepts Canvas Flow's sign-in for this account. "
                            "Connect Canvas again (Log in with Canvas); your synced data is kept.")
    assert snapshot(user.id) == before
    identity = db.session.scalar(select(OAuthIdentity).where(OAuthIdentity.user_id == user.id))
    assert identity.needs_reconnect
    assert db.session.get(SyncRun, result.run_id).status == SyncRun.FAILED


def test_two_canvas_instances_never_share_an_account(app, make_canvas_sandbox, monkeypatch):
    first = make_canvas_sandbox()
    configure_canvas_oauth(monkeypatch, app, first)
    one = signed_in_user(first)
    second = make_canvas_sandbox(oauth_key=DeveloperKey(client_id="20000000000002"))
    configure_canvas_oauth(monkeypatch, app, second)
    two = signed_in_user(second)  # the same Canvas user id (1) on another instance
    assert one.id != two.id
    identities = db.session.scalars(select(OAuthIdentity).order_by(OAuthIdentity.id)).all()
    assert [(i.issuer, i.subject) for i in identities] == [(first.base_url, "1"), (second.base_url, "1")]
    # Tokens are stored encrypted.
    assert all(i.access_token not in (i.access_token_encrypted or "") for i in identities)
