"""An admin login really ends: a logout or a new password ends every cookie issued before (a
copied one too), an idle or old cookie is refused, form tokens expire, and cookies are Secure
whenever the browser spoke HTTPS, through a trusted proxy too."""

from __future__ import annotations

import logging
import time

import pytest

from tests.admin.conftest import CSRF
from webapp.admin import login_session
from webapp.intake import admins

PASSWORD = "correct horse battery"


@pytest.fixture
def proxied_app(app):
    """The app as it runs behind one reverse proxy (KABAR_TRUSTED_PROXIES=1)."""
    from webapp import create_app

    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": True, "TRUSTED_PROXIES": 1})


def log_in(client, email="ops@example.com", **request):
    token = CSRF.search(client.get("/admin/login", **request).get_data(as_text=True)).group(1)
    return client.post(
        "/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, **request
    )


def copy_of(app, client):
    """Another browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    return thief


def test_a_cookie_copied_before_logout_is_refused_after_it(app, logged_in):
    thief = copy_of(app, logged_in)
    assert thief.get("/admin/api-keys").status_code == 200
    logged_in.post("/admin/logout", data={"csrf_token": logged_in.csrf})
    r = thief.get("/admin/api-keys")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    assert "Sesi login Anda sudah berakhir" in thief.get(r.headers["Location"]).get_data(True)
    # Nor can it mint a key with a token it read before.
    minted = thief.post("/admin/api-keys", data={"name": "x", "scope": "admin"})
    assert minted.status_code in (302, 400)


def test_a_new_password_ends_every_login(app, logged_in):
    thief = copy_of(app, logged_in)
    with app.app_context():
        admins.set_password("ops@example.com", "a brand new password")
    for browser in (logged_in, thief):
        assert browser.get("/admin/").status_code == 302


def test_a_login_ends_after_the_idle_time_and_after_the_longest_session(
    app, logged_in, monkeypatch
):
    start = time.time()
    idle, longest = app.config["ADMIN_IDLE_S"], app.config["ADMIN_SESSION_MAX_S"]
    # Active every (idle - 60) s: still logged in past the idle time...
    for step in range(1, 4):
        monkeypatch.setattr(login_session.time, "time", lambda s=step: start + s * (idle - 60))
        assert logged_in.get("/admin/").status_code == 200, step
    # ...but not once nothing was asked for longer than it.
    monkeypatch.setattr(login_session.time, "time", lambda: start + 4 * (idle - 60) + idle + 1)
    assert logged_in.get("/admin/").status_code == 302

    log_in(logged_in)
    now = time.time()
    steps = int(longest // (idle - 60)) + 1
    for step in range(1, steps + 1):
        monkeypatch.setattr(login_session.time, "time", lambda s=step: now + s * (idle - 60))
        expected = 200 if step * (idle - 60) <= longest else 302
        assert logged_in.get("/admin/").status_code == expected, step


def test_a_form_token_expires(app, client, monkeypatch):
    with app.app_context():
        admins.create_admin("ops@example.com", PASSWORD)
    token = CSRF.search(client.get("/admin/login").get_data(as_text=True)).group(1)
    later = time.time() + app.config["WTF_CSRF_TIME_LIMIT"] + 1
    monkeypatch.setattr(time, "time", lambda: later)
    r = client.post(
        "/admin/login", data={"email": "ops@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 400 and "kedaluwarsa" in r.get_data(as_text=True)


def test_cookies_are_secure_over_https_and_through_a_trusted_proxy(app, proxied_app):
    plain = app.test_client().get("/admin/login")
    assert "Secure" not in plain.headers["Set-Cookie"]
    direct = app.test_client().get("/admin/login", base_url="https://kabar.example")
    assert "Secure" in direct.headers["Set-Cookie"]
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    proxied = proxied_app.test_client().get("/admin/login", headers=forwarded)
    assert "Secure" in proxied.headers["Set-Cookie"]
    # Without a trusted proxy the header is anyone's to write, and proves nothing.
    untrusted = app.test_client().get("/admin/login", headers=forwarded)
    assert "Secure" not in untrusted.headers["Set-Cookie"]


@pytest.mark.parametrize("poll", ["/admin/sessions/status.json", "/admin/bulk/status.json"])
def test_a_page_polling_on_its_own_does_not_keep_an_idle_login_open(
    app, logged_in, monkeypatch, poll
):
    start, idle = time.time(), app.config["ADMIN_IDLE_S"]
    monkeypatch.setattr(login_session.time, "time", lambda: start + idle - 30)
    assert logged_in.get(poll).status_code == 200
    monkeypatch.setattr(login_session.time, "time", lambda: start + idle + 30)
    assert logged_in.get(poll).status_code == 401
    assert logged_in.get("/admin/").status_code == 302


def test_logging_out_from_a_page_left_open_past_its_form_token_still_ends_the_login(
    app, logged_in, monkeypatch
):
    # The admin went on working in another tab; the logout button of an old one is clicked.
    monkeypatch.setitem(app.config, "ADMIN_IDLE_S", 2 * app.config["WTF_CSRF_TIME_LIMIT"])
    thief = copy_of(app, logged_in)
    later = time.time() + app.config["WTF_CSRF_TIME_LIMIT"] + 1
    monkeypatch.setattr(time, "time", lambda: later)
    r = logged_in.post("/admin/logout", data={"csrf_token": logged_in.csrf})
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    for browser in (logged_in, thief):
        assert browser.get("/admin/").status_code == 302


def test_a_form_refused_for_its_origin_says_why_instead_of_expired(
    app, proxied_app, caplog, monkeypatch
):
    # nginx's bare proxy_pass sends Host: 127.0.0.1:5000, so over HTTPS the browser's Referer
    # names another host than the request: every form is refused, and "expired" would send the
    # operator reloading forever.
    # Alembic's logging setup (the app fixture migrates) turns the loggers made before it off.
    monkeypatch.setattr(logging.getLogger("webapp.admin"), "disabled", False)
    with app.app_context():
        admins.create_admin("ops@example.com", PASSWORD)
    client = proxied_app.test_client()
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    token = CSRF.search(client.get("/admin/login", headers=proxy).get_data(True)).group(1)
    r = client.post(
        "/admin/login",
        data={"email": "ops@example.com", "password": PASSWORD, "csrf_token": token},
        headers=proxy | {"Referer": "https://kabar.example/admin/login"},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "kedaluwarsa" not in page
    assert "Host" in page
    assert "The referrer does not match the host." in caplog.text


def test_a_form_open_while_its_admin_stays_logged_in_is_never_refused_as_expired(
    app, logged_in, monkeypatch
):
    # A template written over two hours, its preview asked all along: the login lives on, and
    # saving must not throw the text away for a token older than an hour.
    page = logged_in.get("/admin/templates/new").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    start, idle = time.time(), app.config["ADMIN_IDLE_S"]
    for step in range(1, 2 * 3600 // (idle - 60) + 2):
        monkeypatch.setattr(time, "time", lambda s=step: start + s * (idle - 60))
        assert logged_in.get("/admin/templates").status_code == 200
    r = logged_in.post(
        "/admin/templates/new",
        # No name yet: the form comes back with its text, and nothing is saved.
        data={"csrf_token": token, "name": "", "content": "Halo pelanggan setia"},
    )
    page = r.get_data(as_text=True)
    assert "kedaluwarsa" not in page, r.status_code
    assert "Halo pelanggan setia" in page
