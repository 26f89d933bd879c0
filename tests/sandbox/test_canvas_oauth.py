"""The sandbox Canvas's OAuth2 provider answers as canvas-lms's oauth2_provider_controller does."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox.canvas.oauth import DeveloperKey

TIMEOUT = 10
REDIRECT = "http://127.0.0.1:9/auth/canvas/callback"


def authorize(sb, *, user_id=None, state="s-1", scope=None) -> dict:
    """Open the authorize page, submit its form as a browser would; the redirect's query."""
    params = {"client_id": sb.oauth.key.client_id, "response_type": "code", "redirect_uri": REDIRECT,
              "state": state}
    if scope is not None:
        params["scope"] = scope
    page = requests.get(sb.base_url + "/login/oauth2/auth", params=params, timeout=TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text.split("</form>")[0]))
    fields["user_id"] = str(user_id or sb.data.self_user["id"])
    r = requests.post(sb.base_url + "/login/oauth2/accept", data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(sb, **data) -> requests.Response:
    body = {"client_id": sb.oauth.key.client_id, "client_secret": sb.oauth.key.client_secret, **data}
    return requests.post(sb.base_url + "/login/oauth2/token", data=body, timeout=TIMEOUT)


def me(sb, access_token) -> requests.Response:
    return requests.get(sb.api_url + "/users/self", headers={"Authorization": f"Bearer {access_token}"},
                        timeout=TIMEOUT)


def test_code_flow_refresh_and_revoke(make_canvas_sandbox):
    sb = make_canvas_sandbox()
    answer = authorize(sb)
    assert answer["state"] == "s-1"
    r = token(sb, grant_type="authorization_code", code=answer["code"], redirect_uri=REDIRECT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "user", "refresh_token", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["user"] == {"id": sb.data.self_user["id"], "name": sb.data.self_user["name"]}
    assert me(sb, body["access_token"]).json()["id"] == sb.data.self_user["id"]

    # The same code again: Canvas's invalid_grant.
    again = token(sb, grant_type="authorization_code", code=answer["code"], redirect_uri=REDIRECT)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "authorization_code not found"}

    # Refresh: no new refresh token, and the previous access token stops working at once.
    refreshed = token(sb, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200
    assert "refresh_token" not in refreshed.json()
    assert refreshed.json()["access_token"] != body["access_token"]
    old = me(sb, body["access_token"])
    assert old.status_code == 401 and "WWW-Authenticate" in old.headers
    assert me(sb, refreshed.json()["access_token"]).status_code == 200

    # Logout: DELETE with the access token; then neither token works.
    gone = requests.delete(sb.base_url + "/login/oauth2/token",
                           headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}, timeout=TIMEOUT)
    assert gone.status_code == 200
    assert me(sb, refreshed.json()["access_token"]).status_code == 401
    dead = token(sb, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert dead.status_code == 400
    assert dead.json() == {"error": "invalid_request", "error_description": "refresh_token not found"}


def test_student_signs_in_as_themselves(make_canvas_sandbox):
    sb = make_canvas_sandbox()
    answer = authorize(sb, user_id=sb.student_id)
    body = token(sb, grant_type="authorization_code", code=answer["code"], redirect_uri=REDIRECT).json()
    assert body["user"]["id"] == sb.student_id
    assert me(sb, body["access_token"]).json()["id"] == sb.student_id


def test_tokens_expire_after_their_lifetime(make_canvas_sandbox):
    now = [1000.0]
    sb = make_canvas_sandbox(oauth_token_lifetime_s=2)
    sb.oauth.clock = lambda: now[0]
    body = token(sb, grant_type="authorization_code", code=authorize(sb)["code"], redirect_uri=REDIRECT).json()
    assert body["expires_in"] == 2
    assert me(sb, body["access_token"]).status_code == 200
    now[0] += 2
    expired = me(sb, body["access_token"])
    assert expired.status_code == 401
    assert expired.json()["errors"][0]["message"] == "Expired access token."


def test_codes_expire_after_ten_minutes(make_canvas_sandbox):
    now = [1000.0]
    sb = make_canvas_sandbox()
    sb.oauth.clock = lambda: now[0]
    code = authorize(sb)["code"]
    now[0] += 601
    r = token(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert r.json() == {"error": "invalid_grant", "error_description": "authorization_code not found"}


def test_client_errors_in_canvas_shapes(make_canvas_sandbox):
    sb = make_canvas_sandbox()
    r = requests.get(sb.base_url + "/login/oauth2/auth", params={
        "client_id": "nope", "response_type": "code", "redirect_uri": REDIRECT}, timeout=TIMEOUT)
    assert r.status_code == 401 and r.json() == {"error": "invalid_client", "error_description": "unknown client"}
    r = requests.get(sb.base_url + "/login/oauth2/auth", params={
        "client_id": sb.oauth.key.client_id, "response_type": "code", "redirect_uri": "https://evil.example/cb"},
        timeout=TIMEOUT)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "error_description": "redirect_uri does not match client settings"}
    r = requests.post(sb.base_url + "/login/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": sb.oauth.key.client_id, "client_secret": "wrong",
        "refresh_token": "x"}, timeout=TIMEOUT)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert token(sb, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_a_key_that_enforces_scopes_answers_invalid_scope(make_canvas_sandbox):
    sb = make_canvas_sandbox(oauth_key=DeveloperKey(require_scopes=True, scopes=("url:GET|/api/v1/users/self",)))
    params = {"client_id": sb.oauth.key.client_id, "response_type": "code", "redirect_uri": REDIRECT, "state": "z"}
    r = requests.get(sb.base_url + "/login/oauth2/auth", params=params, allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["error"] == ["invalid_scope"] and query["state"] == ["z"]
    assert "were requested, but not granted" in query["error_description"][0]
    assert authorize(sb, scope="url:GET|/api/v1/users/self")["code"]
