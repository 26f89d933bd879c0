"""Two-legged OAuth 1.0a verification, written by hand from RFC 5849 (stdlib only).

Hand-written on purpose: the client signs with oauthlib (through requests-oauthlib), and
a sandbox verifying with the same library would share its bugs. tests/sandbox checks this
module's base string against oauthlib's, so the two are independent and agree.

Schoology runs oauth-php; its refusals are plain-text 401s whose words we reproduce:
"Duplicate timestamp/nonce combination, possible replay attack.  Request rejected." (two
spaces) is the one clients match on. Two-legged requests carry an empty `oauth_token`
(or none: requests-oauthlib leaves it out and Schoology accepts that).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

REALM = "Schoology API"
METHODS = ("HMAC-SHA1", "PLAINTEXT")
DEFAULT_SKEW_S = 300

_PARAM_RE = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*"([^"]*)"')

MISSING = "Can't verify request, missing oauth_consumer_key or oauth_token"
DUPLICATE = "Duplicate timestamp/nonce combination, possible replay attack.  Request rejected."


class OAuthRefused(Exception):
    """A request that does not verify; `message` is the plain-text 401 body."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def pct(value: str) -> str:
    """RFC 5849 3.6 percent-encoding: everything but ALPHA, DIGIT, '-', '.', '_', '~'."""
    return quote(value, safe="-._~")


def parse_authorization(header: str | None) -> dict[str, str]:
    """The parameters of an `Authorization: OAuth k="v", ...` header (values percent-decoded)."""
    if not header or not header.strip().lower().startswith("oauth "):
        return {}
    return {name: unquote(value) for name, value in _PARAM_RE.findall(header.strip()[6:])}


def base_string_uri(scheme: str, host: str, path: str) -> str:
    """RFC 5849 3.4.1.2: lower-case scheme and host, default port dropped, no query."""
    scheme = scheme.lower()
    host = host.lower()
    if (scheme == "http" and host.endswith(":80")) or (scheme == "https" and host.endswith(":443")):
        host = host.rsplit(":", 1)[0]
    return f"{scheme}://{host}{path or '/'}"


def normalized_parameters(params: list[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1.3.2: encode, sort by name then value, join with '&'."""
    encoded = sorted((pct(k), pct(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature_base_string(method: str, uri: str, params: list[tuple[str, str]]) -> str:
    return "&".join((pct(method.upper()), pct(uri), pct(normalized_parameters(params))))


def hmac_sha1(base_string: str, consumer_secret: str, token_secret: str = "") -> str:
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base_string.encode(), hashlib.sha1).digest()).decode()


def plaintext(consumer_secret: str, token_secret: str = "") -> str:
    return f"{pct(consumer_secret)}&{pct(token_secret)}"


@dataclass
class SignedRequest:
    method: str
    scheme: str
    host: str
    path: str
    query: str
    authorization: str | None
    content_type: str = ""
    body: bytes = b""


class OAuthVerifier:
    """Checks consumer key, realm, version, method, timestamp window, nonce reuse and signature."""

    def __init__(self, consumers: dict[str, str], *, max_skew_s: int = DEFAULT_SKEW_S, clock=time.time):
        self.consumers = consumers  # consumer key -> secret
        self.max_skew_s = max_skew_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, dict[tuple[int, str], float]] = {}  # key -> {(ts, nonce): seen at}
        self._max_ts: dict[str, int] = {}
        self._pruned_at = 0.0

    def verify(self, req: SignedRequest) -> str:
        """The consumer key of a request that verifies; raises OAuthRefused otherwise."""
        oauth = parse_authorization(req.authorization)
        query = parse_qsl(req.query, keep_blank_values=True)
        if not oauth:  # RFC 5849 3.5.3: the parameters may travel in the query instead
            oauth = {k: v for k, v in query if k.startswith("oauth_")}
            query = [(k, v) for k, v in query if not k.startswith("oauth_")]
        key = oauth.get("oauth_consumer_key")
        if not key:
            raise OAuthRefused(MISSING)
        if "realm" in oauth and oauth["realm"] != REALM:
            raise OAuthRefused(f'Unknown realm "{oauth["realm"]}", expected "{REALM}".')
        if oauth.get("oauth_version", "1.0") != "1.0":
            raise OAuthRefused("Unsupported OAuth version (only 1.0).")
        token = oauth.get("oauth_token", "")
        secret = self.consumers.get(key)
        if secret is None or token:
            raise OAuthRefused(f'The consumer_key "{key}" token "{token}" combination does not exist '
                               "or is not enabled.")
        method = oauth.get("oauth_signature_method", "")
        if method not in METHODS:
            raise OAuthRefused(f'Unsupported signature method "{method}".')
        signature = oauth.get("oauth_signature")
        if not signature:
            raise OAuthRefused("Verification of signature failed (no oauth_signature in request).")
        self._check_nonce(key, oauth.get("oauth_timestamp", ""), oauth.get("oauth_nonce", ""))
        params = [(k, v) for k, v in oauth.items() if k not in ("realm", "oauth_signature")] + query
        if req.content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            params += parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        base = signature_base_string(req.method, base_string_uri(req.scheme, req.host, req.path), params)
        expected = hmac_sha1(base, secret) if method == "HMAC-SHA1" else plaintext(secret)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise OAuthRefused(f'Verification of signature failed (signature base string was "{base}").')
        return key

    def _check_nonce(self, key: str, timestamp: str, nonce: str) -> None:
        if not timestamp.isdigit() or not nonce:
            raise OAuthRefused("Verification of signature failed (missing oauth_timestamp or oauth_nonce).")
        ts = int(timestamp)
        now = self._clock()
        with self._lock:
            last = self._max_ts.get(key, 0)
            if abs(now - ts) > self.max_skew_s or ts < last - self.max_skew_s:
                raise OAuthRefused(f"Timestamp is out of sequence. Request rejected. Got {ts} last max is "
                                   f"{max(last, int(now))} allowed skew is {self.max_skew_s}")
            seen = self._seen.setdefault(key, {})
            if (ts, nonce) in seen:
                raise OAuthRefused(DUPLICATE)
            seen[(ts, nonce)] = now
            self._max_ts[key] = max(last, ts)
            if now - self._pruned_at > 1.0:
                # nonces older than the window can never verify again: forget them (at most once a second)
                self._pruned_at = now
                low = now - 2 * self.max_skew_s
                for stale in [k for k, at in seen.items() if at < low]:
                    del seen[stale]
