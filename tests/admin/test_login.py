import re

import pytest

from webapp.intake import admins


@pytest.fixture
def admin(app):
    with app.app_context():
        admins.create_admin("ops@example.com", "correct horse battery")


def csrf_token(client, path="/admin/login"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_pages_need_a_login(client):
    r = client.get("/admin/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_login_with_the_right_password_shows_the_dashboard(client, admin):
    token = csrf_token(client)
    r = client.post(
        "/admin/login",
        data={"email": "ops@example.com", "password": "correct horse battery", "csrf_token": token},
    )
    assert r.status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert "Sesi WhatsApp" in page and "ops@example.com" in page


def test_a_wrong_password_is_a_form_error(client, admin):
    r = client.post(
        "/admin/login",
        data={"email": "ops@example.com", "password": "nope", "csrf_token": csrf_token(client)},
    )
    assert r.status_code == 401
    assert "Email atau kata sandi salah" in r.get_data(as_text=True)


def test_a_form_without_csrf_token_is_refused(client, admin):
    r = client.post(
        "/admin/login", data={"email": "ops@example.com", "password": "correct horse battery"}
    )
    assert r.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_logins_are_throttled_after_repeated_failures(client, admin):
    for _ in range(5):
        r = client.post(
            "/admin/login",
            data={"email": "ops@example.com", "password": "nope", "csrf_token": csrf_token(client)},
        )
        assert r.status_code == 401
    r = client.post(
        "/admin/login",
        data={
            "email": "ops@example.com",
            "password": "correct horse battery",
            "csrf_token": csrf_token(client),
        },
    )
    assert r.status_code == 429 and "Terlalu banyak percobaan" in r.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_before_the_first_admin_the_login_page_says_how_to_create_one(client):
    page = client.get("/admin/login").get_data(as_text=True)
    assert "Belum ada admin." in page
    assert "flask --app webapp create-admin you@example.com" in page


def test_once_an_admin_exists_the_login_page_no_longer_says_it(client, admin):
    page = client.get("/admin/login").get_data(as_text=True)
    assert "create-admin" not in page and "Belum ada admin" not in page
