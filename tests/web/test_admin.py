import json

import pytest

from app.extensions import db
from app.web.sync import routes as sync_routes
from tests.web.conftest import add_run, csrf_token, login, make_user, now


@pytest.fixture
def admin_client(client, app):
    admin = make_user("admin@example.edu", admin=True)
    login(client, admin.email)
    return client


def test_admin_sees_every_users_last_sync(admin_client):
    ok = make_user("ok@example.edu", canvas=True)
    broken = make_user("broken@example.edu", canvas=True)
    make_user("never@example.edu")
    add_run(ok, status="failed", finished_at=now(), error="old failure")
    add_run(ok, status="succeeded", finished_at=now())
    add_run(broken, status="failed", finished_at=now(),
            error="Canvas rejected the access token (revoked). Update it in Settings.",
            counts_json=json.dumps({"error_kind": "invalid_token"}))
    page = admin_client.get("/admin/").get_data(as_text=True)
    row = lambda email: page[page.index(email):page.index("</tr>", page.index(email))]
    assert "Done" in row("ok@example.edu") and "old failure" not in row("ok@example.edu")
    assert "Failed" in row("broken@example.edu") and "(revoked)" in row("broken@example.edu")
    assert "never" in row("never@example.edu") and "not connected" in row("never@example.edu")
    assert f'action="/admin/users/{ok.id}/sync"' in page


def test_admin_button_syncs_that_user(admin_client, monkeypatch):
    target = make_user("target@example.edu", canvas=True)
    calls = []

    def start_sync(user_id, *, trigger, incremental):
        calls.append((user_id, trigger, incremental))
        return add_run(db.session.get(type(target), user_id), status="running", trigger=trigger), False

    monkeypatch.setattr(sync_routes, "start_sync", start_sync)
    import app.web.admin.routes as admin_routes
    monkeypatch.setattr(admin_routes, "start_sync", start_sync)
    response = admin_client.post(f"/admin/users/{target.id}/sync",
                                 data={"csrf_token": csrf_token(admin_client, "/admin/")}, follow_redirects=True)
    assert calls == [(target.id, "admin", True)]
    assert b"Started a sync for target@example.edu" in response.data
    assert admin_client.post("/admin/users/999999/sync",
                             data={"csrf_token": csrf_token(admin_client, "/admin/")}).status_code == 404


def test_admin_can_open_any_users_run(admin_client):
    user = make_user("u@example.edu", canvas=True)
    run = add_run(user, status="succeeded", finished_at=now())
    assert admin_client.get(f"/sync/runs/{run.id}").status_code == 200


def test_non_admins_get_403_that_says_so(client, app):
    make_user("plain@example.edu")
    login(client, "plain@example.edu")
    page = client.get("/admin/")
    assert page.status_code == 403 and "administrators only" in page.get_data(as_text=True)
    assert b'href="/admin/"' not in client.get("/").data
