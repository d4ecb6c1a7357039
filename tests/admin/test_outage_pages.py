"""While PostgreSQL or Redis does not answer, every admin page answers a 503 page that says
which part is down and loads itself again; never a 500 or a traceback.

The outage is a proxy the test cuts between its own app and the shared servers (which keep
running); the admin logs in through that app while everything answers, so the cookie the pages
are walked with is a real one.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.admin.conftest import CSRF
from tests.outage import through

PASSWORD = "correct horse battery"
REFRESH = re.compile(r'<meta http-equiv="refresh" content="10">')


@pytest.fixture
def outage(app):
    """An app reaching PostgreSQL and Redis through proxies, an admin's client logged in
    through it, and the two proxies."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.intake import admins

    with app.app_context():
        admins.create_admin("ops@example.com", PASSWORD)
    pg, pg_url = through(app.config["SQLALCHEMY_DATABASE_URI"], 5432)
    rd, redis_url = through(app.config["REDIS_URL"], 6379)
    proxied = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": True,
            "SQLALCHEMY_DATABASE_URI": pg_url,
            "REDIS_URL": redis_url,
        }
    )
    client = proxied.test_client()
    token = CSRF.search(client.get("/admin/login").get_data(as_text=True)).group(1)
    login = {"email": "ops@example.com", "password": PASSWORD, "csrf_token": token}
    assert client.post("/admin/login", data=login).status_code == 302
    client.csrf = CSRF.search(client.get("/admin/").get_data(as_text=True)).group(1)
    yield proxied, client, pg, rd
    pg.cut()
    rd.cut()
    with proxied.app_context():
        db.engine.dispose()


def admin_pages(app) -> list[str]:
    """A URL of every GET route of the console, row ids filled in with 1."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith("/admin"):
            continue
        urls.append(re.sub(r"<(?:int:)?(\w+)>", "1", re.sub(r"<path:\w+>", "", rule.rule)))
    assert len(urls) > 15, urls
    return sorted(set(urls))


def test_every_admin_page_says_the_database_is_down_and_reloads_itself(outage):
    proxied, client, pg, _ = outage
    pg.cut()
    for url in admin_pages(proxied):
        r = client.get(url)
        page = r.get_data(as_text=True)
        assert r.status_code == 503, (url, r.status_code, page[:500])
        assert "Basis data (PostgreSQL) tidak menjawab." in page, url
        assert "tidak ada yang hilang" in page, url
        assert REFRESH.search(page) and r.headers["Retry-After"] == "10", url
        assert "Traceback" not in page and "psycopg" not in page, url

    pg.restore()  # the first page after the outage is the page itself
    assert client.get("/admin/messages").status_code == 200


def test_the_login_page_and_the_healthcheck_say_the_database_is_down(outage):
    proxied, client, pg, _ = outage
    stranger = proxied.test_client()
    token = CSRF.search(stranger.get("/admin/login").get_data(as_text=True)).group(1)
    pg.cut()
    r = stranger.get("/admin/login")
    assert r.status_code == 503 and "Basis data (PostgreSQL) tidak menjawab." in r.text
    login = {"email": "ops@example.com", "password": PASSWORD, "csrf_token": token}
    r = stranger.post("/admin/login", data=login)
    assert r.status_code == 503 and "Basis data (PostgreSQL) tidak menjawab." in r.text
    assert not REFRESH.search(r.text)  # a form is not sent again by itself
    assert "tidak tersimpan" in r.text

    # Asked with an admin's cookie too, what is not the console answers in its own shape.
    for asking in (stranger, client):
        r = asking.get("/healthz")
        assert r.status_code == 503
        assert r.get_json()["checks"] == {"database": "error: OperationalError", "redis": "ok"}
        r = asking.get("/api/whatsapp/sessions", headers={"Authorization": "Bearer some-key"})
        assert r.status_code == 503
        assert r.get_json()["error"]["code"] == "database_unavailable"
        assert asking.get("/static/css/kabar.css").status_code == 200  # the page keeps its look


def test_a_form_sent_while_the_database_is_down_is_not_saved_and_says_so(outage):
    _, client, pg, _ = outage
    pg.cut()
    r = client.post(
        "/admin/api-keys",
        data={"name": "made-while-down", "scope": "send", "csrf_token": client.csrf},
        headers={"Referer": "http://localhost/admin/api-keys"},
    )
    assert r.status_code == 503 and "tidak tersimpan" in r.text
    assert 'href="/admin/api-keys"' in r.text
    pg.restore()
    assert "made-while-down" not in client.get("/admin/api-keys").text


def test_the_page_is_in_english_when_the_admin_switched(outage):
    _, client, pg, _ = outage
    pg.cut()
    form = {"language": "en", "next": "/admin/", "csrf_token": client.csrf}
    assert client.post("/admin/language", data=form).status_code == 302  # needs no database
    r = client.get("/admin/")
    assert r.status_code == 503
    assert "The database (PostgreSQL) is not answering." in r.text
    assert "nothing is lost" in r.text


@pytest.fixture
def direct(app, outage):
    """``direct(engine_options)``: an app on the test database (no proxy) with these engine
    options, and a client carrying the cookie the admin logged in with."""
    from webapp import create_app
    from webapp.extensions import db

    made = []

    def build(engine_options: dict):
        built = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            }
        )
        made.append(built)
        client = built.test_client()
        client.set_cookie("session", outage[1].get_cookie("session").value)
        return built, client

    yield build
    for built in made:
        with built.app_context():
            db.engine.dispose()


def test_a_database_that_does_not_answer_in_time_is_named_as_such(app, direct):
    """A statement cancelled by statement_timeout (here: waiting on a lock another connection
    holds) is a 503 that says the database was too slow, not that it is gone."""
    _, client = direct({"connect_args": {"options": "-c statement_timeout=300"}})
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as locker:
        locker.execute("LOCK TABLE whatsapp_messages IN ACCESS EXCLUSIVE MODE")
        r = client.get("/admin/messages")
        assert r.status_code == 503, r.text[:500]
        assert "sebuah kueri melewati batas waktunya" in r.text
    assert client.get("/admin/messages").status_code == 200


def test_a_database_whose_connections_are_all_busy_is_named_as_such(direct):
    from webapp.extensions import db

    busy, client = direct({"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2})
    with busy.app_context(), db.engine.connect():  # the pool's only connection, held
        r = client.get("/admin/")
        assert r.status_code == 503, r.text[:500]
        assert "semua koneksi ke sana sedang sibuk" in r.text
    assert client.get("/admin/").status_code == 200


def test_the_api_and_mpwa_answer_503_while_every_connection_is_busy(direct):
    """What the outage page promises: a billing app is told to retry, not that Kabar broke."""
    from webapp.extensions import db

    busy, client = direct({"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2})
    with busy.app_context(), db.engine.connect():
        r = client.get("/api/whatsapp/sessions", headers={"Authorization": "Bearer some-key"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text[:300]
        assert r.get_json()["error"]["code"] == "database_unavailable"
        r = client.get("/send-message?api_key=k&sender=1&number=0812&message=hi")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text[:300]
        assert r.get_json() == {"status": False, "msg": "the database is unreachable; retry later"}


def test_every_api_route_answers_database_unavailable_in_its_shape(outage):
    proxied, client, pg, _ = outage
    pg.cut()
    walked = 0
    for rule in proxied.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or "GET" not in rule.methods:
            continue
        walked += 1
        url = re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)
        r = client.get(url, headers={"Authorization": "Bearer some-key"})
        if rule.endpoint.startswith("api_docs."):
            assert r.status_code in (200, 404), url  # the document needs no database
            continue
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", (url, r.text[:300])
        error = r.get_json()["error"]
        assert error["code"] == "database_unavailable" and error["message"], url
    assert walked > 10


def test_every_admin_page_answers_without_a_500_while_redis_is_down(outage):
    proxied, client, _, rd = outage
    rd.cut()
    answers = {}
    for url in admin_pages(proxied):
        r = client.get(url)
        assert r.status_code != 500 and "Traceback" not in r.text, (url, r.text[:500])
        answers[url] = r.status_code
        if r.status_code == 503:
            assert "Redis tidak terjangkau" in r.text and REFRESH.search(r.text), url
    assert answers["/admin/queue"] == 503, answers


def test_a_password_change_while_redis_is_down_checks_nothing_and_says_so(outage):
    """Without Redis a wrong guess cannot be counted, so no current password is checked."""
    _, client, _, rd = outage
    rd.cut()
    form = {
        "current_password": PASSWORD,
        "new_password": "a brand new password",
        "new_password_again": "a brand new password",
        "csrf_token": client.csrf,
    }
    r = client.post("/admin/password", data=form)
    assert r.status_code == 503 and "Redis tidak terjangkau" in r.text
    assert "mungkin belum dijalankan" in r.text
    rd.restore()
    assert client.post("/admin/password", data=form).status_code == 302
