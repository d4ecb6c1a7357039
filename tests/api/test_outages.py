"""While PostgreSQL or Redis is unreachable the API and MPWA's /send-message answer 503 with
Retry-After in their own shapes, never 500; the first request after PostgreSQL is back succeeds.

The outage is a proxy the test cuts between this app and the shared servers, which keep running.
"""

from __future__ import annotations

import pytest

from tests.outage import through

SEND = {"to": "081234567890", "text": "Tagihan Anda sudah terbit"}


@pytest.fixture
def outage(app):
    """An app reaching PostgreSQL and Redis through proxies, and those proxies."""
    from webapp import create_app
    from webapp.extensions import db

    pg, pg_url = through(app.config["SQLALCHEMY_DATABASE_URI"], 5432)
    rd, redis_url = through(app.config["REDIS_URL"], 6379)
    proxied = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": pg_url, "REDIS_URL": redis_url}
    )
    yield proxied, pg, rd
    pg.cut()
    rd.cut()
    with proxied.app_context():
        db.engine.dispose()


def send(client, auth):
    return client.post("/api/whatsapp/send", json=SEND, headers=auth)


def mpwa(client, api_key):
    return client.post(
        "/send-message", data={"api_key": api_key, "number": "081234567890", "message": "Halo"}
    )


def test_the_api_answers_503_while_the_database_is_down_and_works_right_after(
    outage, auth, api_key
):
    proxied, pg, _ = outage
    client = proxied.test_client()
    assert send(client, auth).status_code == 202  # the pool holds a live connection now

    pg.cut()
    r = send(client, auth)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.get_json()["error"]["code"] == "database_unavailable"
    r = mpwa(client, api_key)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.get_json() == {"status": False, "msg": "the database is unreachable; retry later"}

    pg.restore()  # the pooled connections PostgreSQL closed are replaced, not used
    assert send(client, auth).status_code == 202
    assert mpwa(client, api_key).get_json()["status"] is True


def test_the_api_answers_503_while_redis_is_down(outage, auth, api_key):
    proxied, _, rd = outage
    client = proxied.test_client()
    rd.cut()
    r = send(client, auth)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.get_json()["error"]["code"] == "queue_unavailable"
    r = mpwa(client, api_key)
    assert r.status_code == 503 and r.get_json()["status"] is False
