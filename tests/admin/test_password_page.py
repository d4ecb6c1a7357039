"""An admin changes their own password on a page: the rules of ``flask set-admin-password``,
a wrong current password counted like a failed login, every other login ended and this one kept."""

from __future__ import annotations

import pytest

from tests.admin.conftest import CSRF
from webapp.intake import login_throttle

PASSWORD = "correct horse battery"
NEW = "a brand new password"


def change(client, current=PASSWORD, new=NEW, again=None, token=None):
    return client.post(
        "/admin/password",
        data={
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
            "csrf_token": client.csrf if token is None else token,
        },
    )


def log_in(app, password=PASSWORD):
    """Another browser logging in as the admin: the status of its login form's answer."""
    other = app.test_client()
    token = CSRF.search(other.get("/admin/login").get_data(as_text=True)).group(1)
    r = other.post(
        "/admin/login",
        data={"email": "ops@example.com", "password": password, "csrf_token": token},
    )
    return other, r.status_code


def test_the_menu_links_the_page_and_its_form_carries_a_token(logged_in):
    assert 'href="/admin/password"' in logged_in.get("/admin/").text
    page = logged_in.get("/admin/password").text
    assert "Ganti kata sandi" in page and "Kata sandi saat ini" in page
    assert CSRF.search(page) and 'minlength="10"' in page


def test_a_new_password_ends_every_other_login_and_keeps_this_one(app, logged_in):
    other, status = log_in(app)
    assert status == 302 and other.get("/admin/").status_code == 200

    r = change(logged_in)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/password"
    page = logged_in.get(r.headers["Location"]).text
    assert "Kata sandi diganti. Semua login Anda yang lain sudah berakhir" in page
    assert logged_in.get("/admin/messages").status_code == 200
    assert change(logged_in, current=NEW, new=PASSWORD).status_code == 302  # its token too

    assert other.get("/admin/").headers["Location"].startswith("/admin/login")
    assert log_in(app, NEW)[1] == 401  # changed back just above
    assert log_in(app, PASSWORD)[1] == 302


@pytest.mark.parametrize(
    ("current", "new", "again", "error"),
    [
        ("wrong password!", NEW, None, "kata sandi saat ini salah"),
        (PASSWORD, "too short", None, "kata sandi minimal 10 karakter"),
        (PASSWORD, NEW, NEW + "x", "Kedua kata sandi baru tidak sama."),
    ],
)
def test_a_refused_change_is_a_form_error_and_changes_nothing(
    app, logged_in, current, new, again, error
):
    r = change(logged_in, current, new, again)
    assert r.status_code == 400 and error in r.text
    assert 'aria-invalid="true"' in r.text
    assert logged_in.get("/admin/").status_code == 200
    assert log_in(app, PASSWORD)[1] == 302


def test_a_form_without_its_token_is_refused(app, logged_in):
    assert change(logged_in, token="").status_code == 400
    assert log_in(app, NEW)[1] == 401


def test_wrong_current_passwords_count_against_the_login_throttle(app, logged_in):
    """Guessing on this page slows down as guessing on the login page does, and the guesses
    it made are the same ones the login counts."""
    for _ in range(login_throttle.FREE_ATTEMPTS):
        assert change(logged_in, current="a wrong guess").status_code == 400
    r = change(logged_in)  # even the right password waits now
    assert r.status_code == 429 and "Terlalu banyak percobaan" in r.text
    assert log_in(app, PASSWORD)[1] == 429
    assert log_in(app, NEW)[1] == 429
