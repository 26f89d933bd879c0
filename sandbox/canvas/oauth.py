"""Canvas's OAuth2 provider, as canvas-lms answers it (app/controllers/oauth2_provider_controller.rb,
lib/canvas/oauth/*).

- ``GET /login/oauth2/auth?client_id&response_type=code&redirect_uri&state&scope``: an unknown
  client is a 401 ``invalid_client`` / "unknown client" JSON; a redirect_uri off the developer
  key's is a 400 ``invalid_request``; a key that enforces scopes and gets none (or others)
  redirects back with ``error=invalid_scope``; otherwise a page with an Authorize form (the
  sandbox's stand-in for Canvas's login and confirm pages; it picks which user signs in).
- ``POST /login/oauth2/accept`` (the form): redirects to ``redirect_uri?code=...&state=...``;
  ``/login/oauth2/deny`` redirects with ``error=access_denied``.
- ``POST /login/oauth2/token``: ``authorization_code`` (a code works once and for 10 minutes,
  else 400 ``invalid_grant`` / "authorization_code not found") and ``refresh_token`` (no new
  refresh token; the previous access token stops working at once; an unknown or revoked
  refresh token is 400 ``invalid_request`` / "refresh_token not found", Canvas's own words).
  The client may authenticate in the body or with HTTP Basic, as Canvas reads both.
- ``DELETE /login/oauth2/token`` with the access token: deletes the token (access and refresh).

Access tokens expire after ``token_lifetime_s`` (Canvas: 3600); an expired one is a 401 with
``WWW-Authenticate`` like the other invalid tokens.
"""
from __future__ import annotations

import base64
import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

CODE_LIFETIME_S = 600
DEFAULT_TOKEN_LIFETIME_S = 3600

INVALID_SCOPE_DESCRIPTION = ("A requested scope is invalid, unknown, malformed, or exceeds the scope granted "
                             "by the resource owner. The following scopes were requested, but not granted: ")


@dataclass
class DeveloperKey:
    client_id: str = "10000000000001"
    client_secret: str = "sandbox-developer-key-secret"
    # A redirect_uri must be on this host (Canvas: the key's redirect_uri domain, or a subdomain).
    redirect_host: str = "127.0.0.1"
    require_scopes: bool = False
    scopes: tuple[str, ...] = ()


@dataclass
class _Grant:
    user_id: int
    client_id: str
    redirect_uri: str | None
    scopes: tuple[str, ...]
    created: float


@dataclass
class _TokenPair:
    user_id: int
    client_id: str
    access_token: str
    refresh_token: str
    expires_at: float
    scopes: tuple[str, ...] = field(default_factory=tuple)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status

    def payload(self) -> dict:
        return {"error": self.error, "error_description": self.description}


class OAuthProvider:
    """Developer key, authorization codes and tokens. Thread-safe; wall-clock expiry."""

    def __init__(self, key: DeveloperKey | None = None, token_lifetime_s: float = DEFAULT_TOKEN_LIFETIME_S,
                 clock=time.time):
        self.key = key or DeveloperKey()
        self.token_lifetime_s = float(token_lifetime_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._by_access: dict[str, _TokenPair] = {}
        self._by_refresh: dict[str, _TokenPair] = {}
        self.refreshes = 0  # how many refresh_token grants succeeded (tests count them)
        self.code_exchanges = 0

    # ------------------------------------------------------------------ authorize
    def check_authorize(self, params: dict) -> tuple[str | None, tuple[str, ...]]:
        """The redirect_uri and scopes of an authorize request, or an OAuthError to render."""
        if params.get("client_id") != self.key.client_id:
            raise OAuthError("invalid_client", "unknown client", 401)
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri or not self._redirect_allowed(redirect_uri):
            raise OAuthError("invalid_request", "redirect_uri does not match client settings")
        scopes = tuple((params.get("scope") or params.get("scopes") or "").split())
        return redirect_uri, scopes

    def scope_error(self, scopes: tuple[str, ...]) -> OAuthError | None:
        if not self.key.require_scopes:
            return None
        missing = [s for s in scopes if s not in self.key.scopes]
        if scopes and not missing:
            return None
        return OAuthError("invalid_scope", INVALID_SCOPE_DESCRIPTION + ", ".join(missing or ["(none given)"]))

    def _redirect_allowed(self, redirect_uri: str) -> bool:
        host = (urlsplit(redirect_uri).hostname or "").lower()
        allowed = self.key.redirect_host.lower()
        return host == allowed or host.endswith("." + allowed)

    def issue_code(self, user_id: int, redirect_uri: str | None, scopes: tuple[str, ...]) -> str:
        code = secrets.token_hex(32)
        with self._lock:
            self._codes[code] = _Grant(user_id, self.key.client_id, redirect_uri, scopes, self.clock())
        return code

    # ------------------------------------------------------------------ token endpoint
    def token(self, params: dict, authorization: str | None) -> dict:
        client_id, secret = params.get("client_id") or None, params.get("client_secret") or None
        if authorization and authorization.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            client_id, secret = client_id or user, secret or password
        grant_type = params.get("grant_type") or ("authorization_code" if params.get("code") else None)
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type", "The grant_type you requested is not currently supported")
        if client_id != self.key.client_id:
            raise OAuthError("invalid_client", "unknown client", 401)
        if not secrets.compare_digest(str(secret or ""), self.key.client_secret):
            raise OAuthError("invalid_client", "invalid client", 401)
        if grant_type == "authorization_code":
            return self._exchange_code(params)
        return self._refresh(params)

    def _exchange_code(self, params: dict) -> dict:
        code = params.get("code")
        if not code:
            raise OAuthError("invalid_request",
                             "You must provide the code parameter when using the authorization_code grant type")
        with self._lock:
            grant = self._codes.pop(code, None)  # single use, even when the rest of the request fails
            if grant is None or self.clock() - grant.created > CODE_LIFETIME_S:
                raise OAuthError("invalid_grant", "authorization_code not found")
            if grant.redirect_uri and params.get("redirect_uri") != grant.redirect_uri:
                raise OAuthError("invalid_request", "redirect_uri does not match client settings")
            pair = _TokenPair(grant.user_id, grant.client_id, self._new_access(), secrets.token_hex(32),
                              self.clock() + self.token_lifetime_s, grant.scopes)
            self._by_access[pair.access_token] = pair
            self._by_refresh[pair.refresh_token] = pair
            self.code_exchanges += 1
        return {**self._access_answer(pair), "refresh_token": pair.refresh_token}

    def _refresh(self, params: dict) -> dict:
        refresh = params.get("refresh_token")
        if not refresh:
            raise OAuthError("invalid_request",
                             "You must provide the refresh_token parameter when using the refresh_token grant type")
        with self._lock:
            pair = self._by_refresh.get(refresh)
            if pair is None:
                raise OAuthError("invalid_request", "refresh_token not found")
            # regenerate_access_token: the old access token stops working now.
            self._by_access.pop(pair.access_token, None)
            pair.access_token = self._new_access()
            pair.expires_at = self.clock() + self.token_lifetime_s
            self._by_access[pair.access_token] = pair
            self.refreshes += 1
        return self._access_answer(pair)

    def _access_answer(self, pair: _TokenPair) -> dict:
        return {"access_token": pair.access_token, "token_type": "Bearer",
                "user": {"id": pair.user_id, "name": self.user_name(pair.user_id)},
                "expires_in": int(self.token_lifetime_s)}

    @staticmethod
    def _new_access() -> str:
        # Canvas's shape: "<shard id>~<random>"
        return f"1~{secrets.token_urlsafe(48)}"

    user_name = staticmethod(lambda user_id: f"User {user_id}")  # replaced by the sandbox with its data

    # ------------------------------------------------------------------ access tokens
    def lookup(self, access_token: str) -> tuple[_TokenPair | None, bool]:
        """The token's pair and whether it has expired; (None, False) when unknown."""
        with self._lock:
            pair = self._by_access.get(access_token)
        if pair is None:
            return None, False
        return pair, self.clock() >= pair.expires_at

    def revoke(self, access_token: str) -> bool:
        """DELETE /login/oauth2/token: the access token and its refresh token are gone."""
        with self._lock:
            pair = self._by_access.pop(access_token, None)
            if pair is None:
                return False
            self._by_refresh.pop(pair.refresh_token, None)
        return True

    def revoke_refresh_token(self, refresh_token: str | None = None) -> int:
        """What a user removing the app in Canvas's profile does: every token (or one) stops working."""
        with self._lock:
            pairs = [p for p in self._by_refresh.values() if refresh_token in (None, p.refresh_token)]
            for pair in pairs:
                self._by_refresh.pop(pair.refresh_token, None)
                self._by_access.pop(pair.access_token, None)
        return len(pairs)

    def expire_access_tokens(self) -> None:
        with self._lock:
            for pair in self._by_access.values():
                pair.expires_at = self.clock() - 1

    def outstanding_codes(self) -> int:
        with self._lock:
            return len(self._codes)


def with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def authorize_page(params: dict, users: list[tuple[int, str]]) -> bytes:
    """Canvas's login + "<app> is requesting access to your account" page, in one form."""
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k in ("client_id", "redirect_uri", "state", "scope"))
    options = "".join(f'<option value="{uid}">{html.escape(name)}</option>' for uid, name in users)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Log In to Canvas</title></head><body>"
        "<h1>Sandbox Canvas</h1><p>An application is requesting access to your account.</p>"
        f"<form method='post' action='/login/oauth2/accept' id='oauth-authorize'>{hidden}"
        f"<label>Log in as <select name='user_id'>{options}</select></label> "
        "<button type='submit' id='oauth-accept'>Authorize</button></form>"
        f"<form method='post' action='/login/oauth2/deny'>{hidden}"
        "<button type='submit' id='oauth-deny'>Cancel</button></form></body></html>"
    ).encode()
