"""Login throttling behind a reverse proxy: counted per real client address and per account,
a delay that grows instead of a lock, a browser the admin logged in from never held up by a
stranger, and no race: of 20 guesses at once, only the free ones are checked."""

from __future__ import annotations

import threading

import pytest

from tests.admin.conftest import CSRF
from webapp.intake import admins, login_throttle

PASSWORD = "correct horse battery"
STRANGER = {"X-Forwarded-For": "203.0.113.9"}
COLLEAGUE = {"X-Forwarded-For": "198.51.100.7"}


@pytest.fixture
def proxied_app(app):
    from webapp import create_app

    proxied = create_app({"TESTING": True, "WTF_CSRF_ENABLED": True, "TRUSTED_PROXIES": 1})
    with proxied.app_context():
        admins.create_admin("ops@example.com", PASSWORD)
        admins.create_admin("other@example.com", PASSWORD)
    return proxied


def attempt(client, email, password, headers):
    page = client.get("/admin/login", headers=headers).get_data(as_text=True)
    token = CSRF.search(page).group(1)
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers=headers,
    )


def test_a_stranger_behind_the_proxy_slows_only_themselves_and_the_account(proxied_app):
    stranger = proxied_app.test_client()
    for _ in range(login_throttle.FREE_ATTEMPTS):
        assert attempt(stranger, "ops@example.com", "guess", STRANGER).status_code == 401
    assert attempt(stranger, "ops@example.com", "guess", STRANGER).status_code == 429
    assert attempt(stranger, "other@example.com", "guess", STRANGER).status_code == 429
    # Everyone comes from the proxy's 127.0.0.1: a colleague elsewhere is not locked out.
    colleague = proxied_app.test_client()
    assert attempt(colleague, "other@example.com", PASSWORD, COLLEAGUE).status_code == 302


def test_an_admin_kept_under_attack_still_logs_in_from_their_own_browser(proxied_app):
    admin = proxied_app.test_client()
    assert attempt(admin, "ops@example.com", PASSWORD, COLLEAGUE).status_code == 302
    admin.post(
        "/admin/logout",
        data={"csrf_token": CSRF.search(admin.get("/admin/").get_data(as_text=True)).group(1)},
        headers=COLLEAGUE,
    )
    stranger = proxied_app.test_client()
    for _ in range(login_throttle.FREE_ATTEMPTS + 3):
        attempt(stranger, "ops@example.com", "guess", STRANGER)
    # The account is slow for a new browser...
    new_browser = proxied_app.test_client()
    assert attempt(new_browser, "ops@example.com", PASSWORD, COLLEAGUE).status_code == 429
    # ...but not for the one the admin logged in from.
    assert attempt(admin, "ops@example.com", PASSWORD, COLLEAGUE).status_code == 302


def test_the_delay_grows_and_never_becomes_a_lock(app, redis_client):
    waits = []
    with app.app_context():
        for _ in range(login_throttle.FREE_ATTEMPTS):
            assert login_throttle.take("ops@example.com", "203.0.113.9") == 0
        for _ in range(8):
            waits.append(login_throttle.take("ops@example.com", "203.0.113.9"))
            # The wait is over (as if its time had passed): the next attempt is checked.
            for key in login_throttle.subject_keys("ops@example.com", "203.0.113.9"):
                redis_client.hset(key, "next", 0)
            assert login_throttle.take("ops@example.com", "203.0.113.9") == 0
    expected = [30, 60, 120, 240, 480, 900, 900, 900]
    # Seconds left, counted on Redis' clock: a slow machine may have spent one of them already.
    assert all(want - 2 < got <= want for got, want in zip(waits, expected, strict=True)), waits
    ttl = redis_client.pttl(login_throttle.subject_keys("ops@example.com", "203.0.113.9")[0])
    assert 0 < ttl <= (login_throttle.FORGET_S + login_throttle.CAP_S) * 1000


def test_twenty_guesses_at_once_check_no_more_than_the_free_attempts(proxied_app):
    start = threading.Barrier(20)
    statuses = []

    def guess():
        client = proxied_app.test_client()
        page = client.get("/admin/login", headers=STRANGER).get_data(as_text=True)
        token = CSRF.search(page).group(1)
        start.wait()
        r = client.post(
            "/admin/login",
            data={"email": "ops@example.com", "password": "guess", "csrf_token": token},
            headers=STRANGER,
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 20
    assert statuses.count(401) == login_throttle.FREE_ATTEMPTS, statuses
    assert statuses.count(429) == 20 - login_throttle.FREE_ATTEMPTS


def test_metrics_behind_a_proxy_are_not_public(app, proxied_app):
    assert proxied_app.test_client().get("/metrics", headers=STRANGER).status_code == 403
    assert proxied_app.test_client().get("/metrics").status_code == 200
    # A proxy Kabar was not told to trust: every visitor looks local, so forwarded means away.
    assert app.test_client().get("/metrics", headers=STRANGER).status_code == 403
    assert app.test_client().get("/metrics").status_code == 200


def test_a_huge_or_random_email_costs_redis_only_a_short_key(app, client, redis_client):
    token = CSRF.search(client.get("/admin/login").get_data(as_text=True)).group(1)
    email = "x" * 1_000_000 + "@example.com"
    r = client.post("/admin/login", data={"email": email, "password": "guess", "csrf_token": token})
    assert r.status_code == 401
    names = redis_client.keys("*")
    assert names and max(len(name) for name in names) < 200, [len(name) for name in names]


def test_hopping_addresses_inside_one_ipv6_64_buys_no_fresh_attempts(app):
    with app.app_context():
        for n in range(login_throttle.FREE_ATTEMPTS):
            assert login_throttle.take(f"guess{n}@example.com", f"2001:db8:1:2::{n + 1:x}") == 0
        assert login_throttle.take("guess@example.com", "2001:db8:1:2:ffff::9") > 0
        assert login_throttle.take("guess@example.com", "2001:db8:1:3::1") == 0


def test_a_login_while_redis_is_down_is_refused_with_a_page_not_a_500(app):
    from tests.outage import through
    from webapp import create_app

    with app.app_context():
        admins.create_admin("ops@example.com", PASSWORD)
    proxy, redis_url = through(app.config["REDIS_URL"], 6379)
    try:
        client = create_app({"TESTING": True, "WTF_CSRF_ENABLED": True, "REDIS_URL": redis_url})
        client = client.test_client()
        token = CSRF.search(client.get("/admin/login").get_data(as_text=True)).group(1)
        proxy.cut()
        login = {"email": "ops@example.com", "password": PASSWORD, "csrf_token": token}
        r = client.post("/admin/login", data=login)
        assert r.status_code == 503
        assert "Redis tidak terjangkau" in r.get_data(as_text=True)
        proxy.restore()
        assert client.post("/admin/login", data=login).status_code == 302
    finally:
        proxy.cut()
