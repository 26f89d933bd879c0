"""Google's OAuth 2.0 for web server apps, as accounts.google.com and oauth2.googleapis.com answer.

- ``GET /o/oauth2/v2/auth?client_id&redirect_uri&response_type=code&scope&state&access_type``:
  the consent page (a form; the sandbox's stand-in for Google's account chooser). Scopes
  outside Classroom's read-only ones redirect back with ``error=invalid_scope``.
- ``POST /o/oauth2/v2/approve`` (the form): ``redirect_uri?code=...&state=...&scope=...``.
- ``POST /token``: ``authorization_code`` (once; a refresh token only with
  ``access_type=offline``) and ``refresh_token`` (a new access token, no new refresh token;
  Google leaves the previous access token valid until it expires). A used, unknown or
  revoked grant is 400 ``invalid_grant`` ("Bad Request" for a code, "Token has been expired
  or revoked." for a refresh token).
- ``POST /revoke?token=...``: revokes the grant (its refresh and access tokens).
"""
from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

CLASSROOM_READONLY_SCOPES = frozenset({
    "https://www.googleapis.com/auth/classroom.courses.readonly",
    "https://www.googleapis.com/auth/classroom.coursework.me.readonly",
    "https://www.googleapis.com/auth/classroom.coursework.students.readonly",
    "https://www.googleapis.com/auth/classroom.student-submissions.me.readonly",
    "https://www.googleapis.com/auth/classroom.student-submissions.students.readonly",
    "https://www.googleapis.com/auth/classroom.rosters.readonly",
    "openid", "email", "profile",
})
CODE_LIFETIME_S = 600


class GoogleOAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(error)
        self.error, self.description, self.status = error, description, status

    def payload(self) -> dict:
        return {"error": self.error, "error_description": self.description}


@dataclass
class _Grant:
    scopes: str
    refresh_token: str | None
    access_tokens: dict  # token -> expires_at


class GoogleOAuth:
    def __init__(self, client_id: str = "sandbox-client.apps.googleusercontent.com",
                 client_secret: str = "sandbox-google-secret", token_lifetime_s: float = 3599, clock=time.time):
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime_s = float(token_lifetime_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[str, str, bool, float]] = {}  # code -> (redirect, scopes, offline, at)
        self._grants: list[_Grant] = []
        self.refreshes = 0
        self.code_exchanges = 0

    def valid_access(self, token: str) -> bool:
        now = self.clock()
        with self._lock:
            return any(token in g.access_tokens and g.access_tokens[token] > now for g in self._grants)

    def consent(self, params: dict) -> tuple[str, str]:
        if params.get("client_id") != self.client_id:
            raise GoogleOAuthError("invalid_client", "The OAuth client was not found.", 401)
        redirect = params.get("redirect_uri") or ""
        if urlsplit(redirect).hostname not in ("127.0.0.1", "localhost"):
            raise GoogleOAuthError("redirect_uri_mismatch", "Bad Request")
        return redirect, params.get("scope") or ""

    def scope_error(self, scopes: str) -> GoogleOAuthError | None:
        asked = set(scopes.split())
        if not asked or not asked <= CLASSROOM_READONLY_SCOPES:
            return GoogleOAuthError("invalid_scope", "Some requested scopes were invalid.")
        return None

    def issue_code(self, redirect: str, scopes: str, offline: bool) -> str:
        code = "4/" + secrets.token_urlsafe(40)
        with self._lock:
            self._codes[code] = (redirect, scopes, offline, self.clock())
        return code

    def token(self, params: dict) -> dict:
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            raise GoogleOAuthError("invalid_client", "Unauthorized", 401)
        grant_type = params.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                found = self._codes.pop(params.get("code") or "", None)
                if found is None or self.clock() - found[3] > CODE_LIFETIME_S:
                    raise GoogleOAuthError("invalid_grant", "Bad Request")
                if params.get("redirect_uri") != found[0]:
                    raise GoogleOAuthError("redirect_uri_mismatch", "Bad Request")
                grant = _Grant(found[1], "1//" + secrets.token_urlsafe(40) if found[2] else None, {})
                self._grants.append(grant)
                self.code_exchanges += 1
                answer = self._access(grant)
                if grant.refresh_token:
                    answer["refresh_token"] = grant.refresh_token
                return answer
            if grant_type == "refresh_token":
                refresh = params.get("refresh_token")
                grant = next((g for g in self._grants if refresh and g.refresh_token == refresh), None)
                if grant is None:
                    raise GoogleOAuthError("invalid_grant", "Token has been expired or revoked.")
                self.refreshes += 1
                return self._access(grant)
        raise GoogleOAuthError("unsupported_grant_type", "Invalid grant_type: " + str(grant_type))

    def _access(self, grant: _Grant) -> dict:
        token = "ya29." + secrets.token_urlsafe(60)
        grant.access_tokens[token] = self.clock() + self.token_lifetime_s
        return {"access_token": token, "expires_in": int(self.token_lifetime_s), "scope": grant.scopes,
                "token_type": "Bearer"}

    def revoke(self, token: str) -> bool:
        with self._lock:
            for grant in list(self._grants):
                if token == grant.refresh_token or token in grant.access_tokens:
                    self._grants.remove(grant)
                    return True
        return False

    def revoke_all(self) -> None:
        """What removing the app at myaccount.google.com does."""
        with self._lock:
            self._grants.clear()

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._grants:
                for token in grant.access_tokens:
                    grant.access_tokens[token] = self.clock() - 1


def with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def consent_page(params: dict) -> bytes:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k in ("client_id", "redirect_uri", "state", "scope", "access_type"))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Sign in - Google Accounts</title></head>"
            "<body><h1>Sandbox Google</h1><p>Canvas Flow wants to see your Google Classroom classes and work.</p>"
            f"<form method='post' action='/o/oauth2/v2/approve' id='google-consent'>{hidden}"
            "<button type='submit' id='google-allow'>Allow</button></form>"
            f"<form method='post' action='/o/oauth2/v2/deny'>{hidden}"
            "<button type='submit' id='google-deny'>Cancel</button></form></body></html>").encode()
