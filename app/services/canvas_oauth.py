"""Sign in with Canvas: who the Canvas user is locally, and the tokens a sync refreshes.

The identity is the Canvas instance (CANVAS_BASE_URL) plus the Canvas user id from the
token answer, checked against users/self. A new identity creates a local account (no
password: it signs in through Canvas), or, when someone is signed in, links to their
account once. The current access token is also the user's Canvas token (encrypted), so
every page that calls Canvas works as with a pasted token; the refresh token and expiry
live on the identity.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import OAuthIdentity, User
from app.services.canvas_errors import ReconnectNeeded
from app.services.http import ApiError
from app.services.oauth_client import OAuthProvider, PolicyOAuth2Session, SharedAccessToken, expires_at_of

log = logging.getLogger(__name__)


class SignInRefused(Exception):
    """A sign-in that must not happen; the message is plain words for the page."""


def canvas_provider(config=None) -> OAuthProvider:
    return OAuthProvider.canvas(config if config is not None else current_app.config)


def personal_tokens_allowed(config=None) -> bool:
    config = config if config is not None else current_app.config
    return bool(config.get("CANVAS_ALLOW_PERSONAL_TOKENS", True))


def identity_of(user: User, provider: str = OAuthIdentity.CANVAS) -> OAuthIdentity | None:
    from sqlalchemy.orm import object_session

    session = object_session(user)
    if session is None or user.id is None:
        return None
    return session.scalar(select(OAuthIdentity).where(OAuthIdentity.user_id == user.id,
                                                      OAuthIdentity.provider == provider))


def _utc(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, timezone.utc) if ts else None


@dataclass
class CanvasSignIn:
    """Turns a token answer and users/self into a local account (session passed in, not committed)."""

    session: Session
    provider: OAuthProvider

    def complete(self, token: dict, profile: dict, signed_in: User | None) -> User:
        canvas_id = profile.get("id")
        answered = (token.get("user") or {}).get("id")
        if canvas_id is None or (answered is not None and str(answered) != str(canvas_id)):
            raise SignInRefused("Canvas did not say who signed in. Try again.")
        subject = str(canvas_id)
        identity = self.session.scalar(select(OAuthIdentity).where(
            OAuthIdentity.provider == self.provider.key, OAuthIdentity.issuer == self.provider.issuer,
            OAuthIdentity.subject == subject))
        if identity is not None:
            user = self.session.get(User, identity.user_id)
            if signed_in is not None and signed_in.id != user.id:
                raise SignInRefused("That Canvas account is already linked to another Canvas Flow account.")
        elif signed_in is not None:
            user = signed_in
            if identity_of(user, self.provider.key) is not None:
                raise SignInRefused("This account is already linked to a Canvas account.")
            if user.canvas_base_url and user.canvas_base_url.rstrip("/") != self.provider.issuer:
                raise SignInRefused("This account syncs another Canvas instance; it cannot be linked to this one.")
            if user.canvas_user_id is not None and str(user.canvas_user_id) != subject:
                raise SignInRefused("This account's Canvas token belongs to another Canvas user.")
            identity = OAuthIdentity(user_id=user.id, provider=self.provider.key, issuer=self.provider.issuer,
                                     subject=subject)
            self.session.add(identity)
            log.info("event=canvas_linked user_id=%s", user.id)
        else:
            user = User(email=self._free_email(profile, subject), is_admin=False)
            # No password: this account signs in through Canvas (a reset can set one later).
            user.set_password(secrets.token_urlsafe(32))
            self.session.add(user)
            self.session.flush()
            identity = OAuthIdentity(user_id=user.id, provider=self.provider.key, issuer=self.provider.issuer,
                                     subject=subject)
            self.session.add(identity)
            log.info("event=canvas_account_created user_id=%s", user.id)
        identity.access_token = token["access_token"]
        if token.get("refresh_token"):
            identity.refresh_token = token["refresh_token"]
        identity.expires_at = _utc(expires_at_of(token))
        identity.needs_reconnect = False
        user.canvas_base_url = self.provider.issuer
        user.canvas_token = token["access_token"]
        user.canvas_user_id = int(canvas_id) if str(canvas_id).isdigit() else user.canvas_user_id
        return user

    def _free_email(self, profile: dict, subject: str) -> str:
        for candidate in (profile.get("primary_email"), profile.get("email"), profile.get("login_id")):
            if candidate and "@" in str(candidate):
                email = str(candidate).strip().lower()[:255]
                if self.session.scalar(select(User.id).where(User.email == email)) is None:
                    return email
        host = self.provider.issuer.split("://", 1)[-1]
        return f"canvas-{subject}@{host}"[:255]


def token_source_for(user: User, *, policy=None) -> SharedAccessToken | None:
    """The run's shared, refreshing access token for a user signed in with Canvas, else None."""
    provider = canvas_provider()
    identity = identity_of(user)
    if (identity is None or not provider.configured or not identity.refresh_token_encrypted
            or (user.canvas_base_url or "").rstrip("/") != identity.issuer):
        return None
    expires_at = identity.expires_at.timestamp() if identity.expires_at else None
    session = PolicyOAuth2Session(provider, policy=policy)
    return SharedAccessToken(session, user.canvas_token or "", identity.refresh_token, expires_at,
                             reconnect_error=lambda exc: ReconnectNeeded(status=exc.status))


def save_refreshed_tokens(user: User, source: SharedAccessToken | None) -> None:
    """Copy what a run's refreshes produced onto the user's rows (in the caller's session).

    Called by the thread that owns the session; the fetching threads only touch memory.
    Canvas keeps the refresh token across refreshes, so a run whose copy is lost costs one
    extra refresh next time, nothing more.
    """
    if source is None:
        return
    identity = identity_of(user)
    if identity is None:
        return
    if source.refused is not None:
        identity.needs_reconnect = True
        return
    state = source.state()
    if state is None:
        return
    identity.access_token = state["access_token"]
    identity.refresh_token = state["refresh_token"]
    identity.expires_at = _utc(state["expires_at"])
    user.canvas_token = state["access_token"]


def revoke_canvas(user) -> bool:
    """Logout's "disconnect Canvas": Canvas deletes the token; the tokens here are dropped, data kept."""
    identity = identity_of(user)
    if identity is None:
        return False
    provider = canvas_provider()
    if provider.configured and user.canvas_token_encrypted:
        oauth = PolicyOAuth2Session(provider)
        try:
            oauth.revoke_access(user.canvas_token)
        except ApiError as exc:  # the tokens here go anyway; Canvas's copy expires within the hour
            log.info("event=canvas_revoke_failed user_id=%s kind=%s", user.id, exc.kind)
        finally:
            oauth.close()
    identity.access_token = None
    identity.refresh_token = None
    identity.expires_at = None
    user.canvas_token = None
    log.info("event=canvas_revoked user_id=%s", user.id)
    return True
