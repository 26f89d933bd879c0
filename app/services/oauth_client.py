"""OAuth2 sign-in and refresh for Canvas and Google, on Authlib over the shared outbound client.

Authlib's requests ``OAuth2Session`` builds the authorization URL (with its ``state``),
the token requests and parses the answers; every request it sends goes through
``HttpClient.request`` (app/services/http.py), so the egress policy, deadlines, size limits
and origin checks hold for token requests too. Token endpoint refusals come back as
``OAuthRefused`` with the provider's ``error`` code and a plain message (the body never
reaches a page or a log line).

``SharedAccessToken`` is the access token of one sync run: every fetching thread asks it
for the current token; it refreshes before expiry and after a 401, one refresh at a time,
and a thread whose failed token was already replaced takes the new one instead of
refreshing again (Canvas kills the previous access token the moment it refreshes, so two
racing refreshes would each invalidate the other's token).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import requests
from authlib.integrations.requests_client import OAuth2Session

from app.services.egress import EgressPolicy, origin_of
from app.services.http import ApiError, HttpClient, SystemErrors, build_session, url_path

log = logging.getLogger(__name__)

GOOGLE_CLASSROOM_SCOPES = (
    "https://www.googleapis.com/auth/classroom.courses.readonly",
    "https://www.googleapis.com/auth/classroom.coursework.me.readonly",
    "https://www.googleapis.com/auth/classroom.student-submissions.me.readonly",
)
# Answers after which only a new consent helps (RFC 6749 section 5.2; Canvas says
# invalid_request "refresh_token not found" for a revoked or unknown refresh token).
RECONNECT_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client"}


class OAuthRefused(ApiError):
    """The token endpoint refused: ``error`` is its code (invalid_grant, invalid_client, ...)."""

    kind = "oauth"

    def __init__(self, message: str, *, error: str = "", description: str = "", status: int | None = None):
        super().__init__(message, status=status, retriable=status is not None and (status == 429 or status >= 500))
        self.error = error
        self.description = description

    @property
    def needs_reconnect(self) -> bool:
        return self.error in RECONNECT_ERRORS or (
            self.error == "invalid_request" and "refresh_token" in self.description)


class OAuthUnavailable(OAuthRefused):
    retriable = True


def _oauth_errors(name: str) -> SystemErrors:
    def error_for(response: requests.Response) -> OAuthRefused:
        try:
            body = response.json()
        except ValueError:
            body = None
        error = str(body.get("error") or "") if isinstance(body, dict) else ""
        description = str(body.get("error_description") or "") if isinstance(body, dict) else ""
        if response.status_code >= 500:
            return OAuthUnavailable(f"{name}'s sign-in service had an internal error ({response.status_code}); "
                                    "try again later.", status=response.status_code)
        return OAuthRefused(f"{name} refused the sign-in ({error or response.status_code}).", error=error,
                            description=description, status=response.status_code)

    return SystemErrors(name=name, base=OAuthRefused, unavailable=OAuthUnavailable, throttled=OAuthUnavailable,
                        bad_response=OAuthRefused, error_for=error_for)


@dataclass(frozen=True)
class OAuthProvider:
    """One deployment's OAuth client at one provider."""

    name: str  # "Canvas" or "Google", in messages
    key: str   # OAuthIdentity.provider
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str | None = None
    scopes: tuple[str, ...] = ()
    authorize_params: dict = field(default_factory=dict)
    issuer: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret and self.authorize_url and self.token_url)

    @classmethod
    def canvas(cls, config) -> OAuthProvider:
        base = (config.get("CANVAS_BASE_URL") or "").rstrip("/")
        return cls(name="Canvas", key="canvas", client_id=config.get("CANVAS_OAUTH_CLIENT_ID") or "",
                   client_secret=config.get("CANVAS_OAUTH_CLIENT_SECRET") or "",
                   authorize_url=f"{base}/login/oauth2/auth" if base else "",
                   token_url=f"{base}/login/oauth2/token" if base else "",
                   revoke_url=f"{base}/login/oauth2/token" if base else None,
                   scopes=tuple((config.get("CANVAS_OAUTH_SCOPES") or "").split()), issuer=base)

    @classmethod
    def google(cls, config) -> OAuthProvider:
        auth_base = (config.get("GOOGLE_OAUTH_AUTH_BASE") or "https://accounts.google.com").rstrip("/")
        token_base = (config.get("GOOGLE_OAUTH_TOKEN_BASE") or "https://oauth2.googleapis.com").rstrip("/")
        return cls(name="Google", key="google", client_id=config.get("GOOGLE_OAUTH_CLIENT_ID") or "",
                   client_secret=config.get("GOOGLE_OAUTH_CLIENT_SECRET") or "",
                   authorize_url=f"{auth_base}/o/oauth2/v2/auth", token_url=f"{token_base}/token",
                   revoke_url=f"{token_base}/revoke", scopes=GOOGLE_CLASSROOM_SCOPES,
                   # offline: a refresh token; consent: Google sends it again on a second consent
                   authorize_params={"access_type": "offline", "prompt": "consent",
                                     "include_granted_scopes": "true"},
                   issuer=auth_base)


class PolicyOAuth2Session(OAuth2Session):
    """Authlib's session whose every request is sent by the shared outbound client."""

    def __init__(self, provider: OAuthProvider, *, redirect_uri: str | None = None, token: dict | None = None,
                 policy: EgressPolicy | None = None, timeout: float = 15.0):
        super().__init__(client_id=provider.client_id, client_secret=provider.client_secret,
                         token_endpoint_auth_method="client_secret_post",
                         scope=" ".join(provider.scopes) or None, redirect_uri=redirect_uri, token=token)
        self.provider = provider
        origins = {origin_of(provider.token_url)}
        if provider.revoke_url:
            origins.add(origin_of(provider.revoke_url))
        self._origins = sorted(origins)
        self._timeout = timeout
        self._transport = build_session(total_retries=2, policy=policy)
        self.http = self._client(None)

    def _client(self, auth) -> HttpClient:
        # The client authentication Authlib chose (client_secret_post signs the body) rides on
        # the shared client's own `auth`, applied on every attempt.
        return HttpClient(self._transport, _oauth_errors(self.provider.name), self._origins, timeout=self._timeout,
                          connect_timeout=5.0, deadline_s=self._timeout * 2, max_retries=2, auth=auth)

    def request(self, method, url, withhold_token=False, auth=None, **kwargs):
        for name in ("verify", "proxies", "cert", "stream", "allow_redirects", "timeout"):
            kwargs.pop(name, None)  # the shared client owns transport settings
        if not withhold_token and auth is None and self.token:
            auth = self.token_auth
        client = self.http if auth is None else self._client(auth)
        return client.request(method, url, what=url_path(url), **kwargs)

    def authorization_url(self, state: str | None = None) -> tuple[str, str]:
        return self.create_authorization_url(self.provider.authorize_url, state=state,
                                             **self.provider.authorize_params)

    def exchange_code(self, code: str) -> dict:
        return dict(self.fetch_token(self.provider.token_url, grant_type="authorization_code", code=code))

    def refresh(self, refresh_token: str) -> dict:
        return dict(self.refresh_token(self.provider.token_url, refresh_token=refresh_token))

    def revoke_access(self, access_token: str) -> None:
        """Canvas: DELETE /login/oauth2/token with the token; Google: POST /revoke?token=..."""
        if not self.provider.revoke_url:
            return
        if self.provider.key == "canvas":
            self.http.request("DELETE", self.provider.revoke_url, what="login/oauth2/token",
                              headers={"Authorization": f"Bearer {access_token}"})
        else:
            self.http.request("POST", self.provider.revoke_url, what="revoke", data={"token": access_token})

    def close(self) -> None:
        self._transport.close()
        super().close()


def expires_at_of(token: dict, clock: Callable[[], float] = time.time) -> float | None:
    # expires_in first: Authlib adds an expires_at of its own from the wall clock.
    if token.get("expires_in"):
        return clock() + float(token["expires_in"])
    if token.get("expires_at"):
        return float(token["expires_at"])
    return None


class SharedAccessToken:
    """The access token every thread of one run uses; one refresh at a time (see the module)."""

    def __init__(self, session: PolicyOAuth2Session, access_token: str, refresh_token: str | None,
                 expires_at: float | None, *, lifetime_s: float | None = None,
                 on_refresh: Callable[[dict], None] | None = None,
                 on_refused: Callable[[OAuthRefused], None] | None = None,
                 reconnect_error: Callable[[OAuthRefused], Exception] | None = None,
                 clock: Callable[[], float] = time.time):
        self.session = session
        self._access = access_token
        self._refresh = refresh_token
        self._expires_at = expires_at
        self._lifetime = lifetime_s
        self._on_refresh, self._on_refused = on_refresh, on_refused
        self._reconnect_error = reconnect_error or (lambda exc: exc)
        self._clock = clock
        self._lock = threading.Lock()
        self._refused: Exception | None = None
        self.refreshes = 0

    @property
    def can_refresh(self) -> bool:
        return bool(self._refresh)

    @property
    def refused(self) -> Exception | None:
        """The reconnect error, once the provider refused the refresh token."""
        return self._refused

    def state(self) -> dict | None:
        """The tokens now held, when a refresh replaced the ones this object started with."""
        with self._lock:
            if not self.refreshes:
                return None
            return {"access_token": self._access, "refresh_token": self._refresh, "expires_at": self._expires_at}

    def _leeway(self) -> float:
        # A minute for Canvas's hour-long tokens; a quarter of the life of very short ones.
        return min(60.0, (self._lifetime or 3600.0) / 4)

    def current(self) -> str:
        """The token to send now, refreshed first when it expires within the leeway."""
        with self._lock:
            if (self._refresh and self._expires_at is not None
                    and self._clock() >= self._expires_at - self._leeway()):
                self._refresh_locked()
            return self._access

    def after_unauthorized(self, failed: str) -> str:
        """A 401 for ``failed``: refresh, unless another thread already replaced it."""
        with self._lock:
            if failed == self._access:
                self._refresh_locked()
            return self._access

    def _refresh_locked(self) -> None:
        if self._refused is not None:
            raise self._refused
        if not self._refresh:
            raise self._reconnect_error(OAuthRefused("No refresh token.", error="invalid_grant"))
        try:
            answer = self.session.refresh(self._refresh)
        except OAuthRefused as exc:
            if not exc.needs_reconnect:
                raise
            log.info("event=oauth_refresh_refused provider=%s error=%s", self.session.provider.key, exc.error)
            self._refused = self._reconnect_error(exc)
            if self._on_refused is not None:
                self._on_refused(exc)
            raise self._refused from None
        self._access = answer["access_token"]
        self._refresh = answer.get("refresh_token") or self._refresh
        self._lifetime = float(answer["expires_in"]) if answer.get("expires_in") else self._lifetime
        self._expires_at = expires_at_of(answer, self._clock)
        self.refreshes += 1
        log.info("event=oauth_refreshed provider=%s expires_in=%s", self.session.provider.key,
                 answer.get("expires_in"))
        if self._on_refresh is not None:
            self._on_refresh({"access_token": self._access, "refresh_token": self._refresh,
                              "expires_at": self._expires_at})
