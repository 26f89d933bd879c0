import pytest

from app.extensions import db
from app.web.settings import routes as settings_routes
from app.web.settings.urls import CanvasURLError, normalize_canvas_url
from tests.web.conftest import csrf_token, login, make_user

TOKEN = "7~SuperSecretCanvasToken1234abcd"


@pytest.fixture
def fake_canvas(monkeypatch):
    """Canvas that accepts exactly TOKEN (the real HTTP path is covered in the browser test)."""
    calls = []

    def verify(base_url, token):
        calls.append((base_url, token))
        if token != TOKEN:
            raise settings_routes.VerificationError("Canvas rejected the access token (invalid).")
        return {"id": 4242, "name": "Sam Student"}

    monkeypatch.setattr(settings_routes, "verify_token", verify)
    return calls


@pytest.fixture
def fresh_user_client(client, app):
    user = make_user("fresh@example.edu")
    login(client, user.email)
    return client, user


def save(client, base_url, token):
    return client.post("/settings/", data={"base_url": base_url, "token": token,
                                           "csrf_token": csrf_token(client, "/settings/")})


def test_token_is_verified_then_stored_encrypted_and_shown_as_hint(fresh_user_client, fake_canvas):
    client, user = fresh_user_client
    response = save(client, "https://school.instructure.com/", TOKEN)
    assert response.status_code == 302
    assert fake_canvas == [("https://school.instructure.com", TOKEN)]  # one users/self check
    db.session.refresh(user)
    assert user.canvas_token == TOKEN
    assert TOKEN not in (user.canvas_token_encrypted or "")
    assert user.canvas_base_url == "https://school.instructure.com"
    assert user.canvas_user_id == 4242
    page = client.get("/settings/").get_data(as_text=True)
    assert "ends in <code>...abcd</code>" in page
    assert TOKEN not in page and TOKEN[:-4] not in page
    assert "Canvas connected as Sam Student" in page


def test_rejected_token_is_not_saved_and_error_is_plain(fresh_user_client, fake_canvas):
    client, user = fresh_user_client
    response = save(client, "https://school.instructure.com", "wrong-token-xyz")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Canvas rejected the access token (invalid). Nothing was saved." in text
    assert "wrong-token-xyz" not in text  # never echoed back
    db.session.refresh(user)
    assert user.canvas_token_encrypted is None and user.canvas_base_url is None


def test_wrong_new_token_keeps_the_old_one(fresh_user_client, fake_canvas):
    client, user = fresh_user_client
    assert save(client, "https://school.instructure.com", TOKEN).status_code == 302
    assert save(client, "https://school.instructure.com", "expired-token").status_code == 400
    db.session.refresh(user)
    assert user.canvas_token == TOKEN


def test_empty_token_rechecks_the_saved_one_on_the_same_host(fresh_user_client, fake_canvas):
    client, user = fresh_user_client
    save(client, "https://school.instructure.com", TOKEN)
    assert save(client, "https://school.instructure.com/", "").status_code == 302
    assert fake_canvas[-1] == ("https://school.instructure.com", TOKEN)


def test_an_empty_token_with_a_new_host_is_refused_and_the_token_never_sent(fresh_user_client, fake_canvas):
    client, user = fresh_user_client
    save(client, "https://school.instructure.com", TOKEN)
    response = save(client, "https://evil.example.com", "")
    assert response.status_code == 400
    assert "A new address needs the access token again" in response.get_data(as_text=True)
    assert all(host != "https://evil.example.com" for host, _ in fake_canvas)
    db.session.refresh(user)
    assert user.canvas_base_url == "https://school.instructure.com"
    # With the token typed again, the new host is accepted.
    assert save(client, "https://other.instructure.com", TOKEN).status_code == 302
    db.session.refresh(user)
    assert user.canvas_base_url == "https://other.instructure.com"


def test_first_save_needs_a_token(fresh_user_client, fake_canvas):
    client, _ = fresh_user_client
    response = save(client, "https://school.instructure.com", "")
    assert response.status_code == 400 and b"Paste your Canvas access token" in response.data
    assert fake_canvas == []


@pytest.mark.parametrize("url, message", [
    ("ftp://school.example.edu", "must start with https://"),
    ("javascript:alert(1)", "must start with https://"),
    ("https://user:pw@school.example.edu", "Leave user names and passwords out"),
    ("not a url", "must start with https://"),
])
def test_bad_urls_are_refused(fresh_user_client, fake_canvas, url, message):
    client, _ = fresh_user_client
    response = save(client, url, TOKEN)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert fake_canvas == []  # the token was never sent anywhere


def test_production_rules_refuse_http_and_private_hosts(fresh_user_client, fake_canvas, app, monkeypatch):
    client, _ = fresh_user_client
    monkeypatch.setitem(app.config, "REQUIRE_HTTPS_CANVAS_URLS", True)
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_CANVAS_URLS", False)
    assert b"must use https://" in save(client, "http://school.instructure.com", TOKEN).data
    for private in ("https://127.0.0.1:8443", "https://localhost", "https://10.1.2.3", "https://[::1]",
                    "https://169.254.169.254", "https://[::ffff:192.168.0.1]"):
        response = save(client, private, TOKEN)
        assert response.status_code == 400, private
        assert b"private or local network" in response.data, private
    assert fake_canvas == []


def test_disconnect_removes_the_token(fresh_user_client, fake_canvas):
    client, user = fresh_user_client
    save(client, "https://school.instructure.com", TOKEN)
    client.post("/settings/disconnect", data={"csrf_token": csrf_token(client, "/settings/"), "confirm": "yes"})
    db.session.refresh(user)
    assert user.canvas_token_encrypted is None and not user.has_canvas


# --- the URL rule on its own -------------------------------------------------------------

def public(host):
    import ipaddress
    return [ipaddress.ip_address("93.184.216.34")]


@pytest.mark.parametrize("raw, expected", [
    ("https://School.Instructure.com/", "https://school.instructure.com"),
    ("https://school.instructure.com/api/v1", "https://school.instructure.com"),
    ("https://canvas.example.edu:8443/lms/", "https://canvas.example.edu:8443/lms"),
    ("  https://school.instructure.com/courses  ", "https://school.instructure.com"),
])
def test_normalize_keeps_the_instance_root(raw, expected):
    assert normalize_canvas_url(raw, require_https=True, allow_private=False, resolve=public) == expected


def test_a_name_resolving_to_a_private_address_is_refused():
    import ipaddress

    def sneaky(host):  # public-looking name, private address (DNS rebinding style)
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]

    with pytest.raises(CanvasURLError, match="private or local"):
        normalize_canvas_url("https://canvas.example.edu", require_https=True, allow_private=False, resolve=sneaky)
    assert normalize_canvas_url("http://127.0.0.1:9000", require_https=False, allow_private=True) == \
        "http://127.0.0.1:9000"


def test_unknown_host_is_a_plain_error():
    with pytest.raises(CanvasURLError, match="could not be found"):
        normalize_canvas_url("https://no-such-host.invalid", require_https=True, allow_private=False)


def test_real_check_against_the_sandbox(fresh_user_client, canvas_sandbox):
    """users/self, then one page of courses, over HTTP; an expired token is refused in plain words
    without leaking it (and without the second call)."""
    client, user = fresh_user_client
    canvas_sandbox.clear_log()
    response = save(client, canvas_sandbox.base_url, canvas_sandbox.expired_token)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Canvas rejected the access token" in text and "expired" in text
    assert canvas_sandbox.expired_token not in text
    assert save(client, canvas_sandbox.base_url, canvas_sandbox.token).status_code == 302
    assert [e.path for e in canvas_sandbox.request_log] == ["/api/v1/users/self", "/api/v1/users/self",
                                                            "/api/v1/courses"]
    db.session.refresh(user)
    assert user.canvas_token == canvas_sandbox.token and user.canvas_base_url == canvas_sandbox.base_url


def test_unreachable_canvas_is_a_quick_plain_error(fresh_user_client):
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, user = fresh_user_client
    t0 = time.perf_counter()
    response = save(client, f"http://127.0.0.1:{port}", "some-token-1234")
    assert time.perf_counter() - t0 < 5, "the form must not hang on the sync's retry policy"
    assert response.status_code == 400
    assert f"Could not reach Canvas at 127.0.0.1:{port}. Nothing was saved." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert not user.has_canvas
