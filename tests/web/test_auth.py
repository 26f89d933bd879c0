from app.models import User
from app.extensions import db
from tests.web.conftest import PASSWORD, csrf_token, login, make_user


def test_register_logs_in_and_hashes_the_password(client, app):
    response = client.post("/register", data={
        "email": "New@Example.edu", "password": "longenough1", "confirm": "longenough1",
        "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/settings/")
    user = db.session.scalar(db.select(User).where(User.email == "new@example.edu"))
    assert user is not None and user.password_hash != "longenough1" and user.check_password("longenough1")
    assert client.get("/").status_code == 200  # the session is live


def test_register_refuses_a_taken_email(client, app):
    make_user("taken@example.edu")
    response = client.post("/register", data={
        "email": "taken@example.edu", "password": "longenough1", "confirm": "longenough1",
        "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 400
    assert b"already exists" in response.data


def test_login_wrong_password_then_right(client, app):
    make_user("a@example.edu")
    bad = client.post("/login", data={"email": "a@example.edu", "password": "nope",
                                      "csrf_token": csrf_token(client)})
    assert bad.status_code == 401 and b"Wrong email or password" in bad.data
    login(client, "a@example.edu")
    assert client.get("/courses").status_code == 200


def test_login_is_rate_limited_even_with_the_right_password(client, app):
    make_user("victim@example.edu")
    limit = app.config["LOGIN_RATE_LIMIT"]
    for _ in range(limit):
        r = client.post("/login", data={"email": "victim@example.edu", "password": "guess",
                                        "csrf_token": csrf_token(client)})
        assert r.status_code == 401
    blocked = client.post("/login", data={"email": "victim@example.edu", "password": PASSWORD,
                                          "csrf_token": csrf_token(client)})
    assert blocked.status_code == 429
    assert b"Too many failed logins" in blocked.data
    assert client.get("/").status_code == 302  # still not logged in


def test_logout_needs_post_and_ends_the_session(client, app):
    make_user("b@example.edu")
    login(client, "b@example.edu")
    assert client.get("/logout").status_code == 405
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/").status_code == 302


def test_next_parameter_never_leaves_the_site(client, app):
    make_user("c@example.edu")
    r = client.post("/login?next=//evil.example/x", data={
        "email": "c@example.edu", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert r.headers["Location"] == "/"
