"""A database outage while session events are folded sets none of them aside: they wait in the
stream's consumer group and are folded once PostgreSQL is back (the outage is a proxy the test
cuts, so the shared PostgreSQL server keeps running)."""

from __future__ import annotations

import pytest

from tests.folding import receipt, sent_message, status_of
from tests.outage import through
from webapp.extensions import db
from webapp.models import WhatsAppSession
from workers.queue import keys, session_events


@pytest.fixture
def proxied_db(app, monkeypatch):
    """The fold actor's app reaches PostgreSQL through a proxy the test can cut."""
    from webapp import create_app
    from workers.pipeline import actors

    proxy, url = through(app.config["SQLALCHEMY_DATABASE_URI"], 5432)
    outage_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    monkeypatch.setattr(actors, "_app", outage_app)
    # Entries left unacknowledged are claimed again at once instead of after 30 s.
    monkeypatch.setattr(session_events, "RECLAIM_IDLE_MS", 0)
    yield proxy
    proxy.cut()
    with outage_app.app_context():
        db.engine.dispose()


def pending(redis_client) -> int:
    return redis_client.xpending(keys.SESSION_EVENTS, keys.SESSION_EVENTS_GROUP)["pending"]


def test_events_folded_during_a_database_outage_wait_and_are_folded_after_it(
    app, redis_client, proxied_db
):
    from workers.pipeline import actors

    with app.app_context():
        db.session.add(WhatsAppSession(session_id="s-1", device_id="d-1"))
        first, second = sent_message("WA-1"), sent_message("WA-2")
    actors.fold_session_events.fn()  # the folder's pool holds live connections now
    session_events.publish(redis_client, receipt("WA-1", "delivered"))
    session_events.publish(redis_client, receipt("WA-2", "read"))

    proxied_db.cut()
    actors.fold_session_events.fn()
    assert redis_client.xlen(keys.SESSION_EVENTS_DEAD) == 0
    assert pending(redis_client) == 2  # read, not acknowledged
    assert status_of(app, first) == "sent"

    proxied_db.restore()
    actors.fold_session_events.fn()  # the first request on each pooled connection is fine too
    assert (status_of(app, first), status_of(app, second)) == ("delivered", "read")
    assert pending(redis_client) == 0
    assert redis_client.xlen(keys.SESSION_EVENTS_DEAD) == 0


def test_parked_receipts_taken_during_an_outage_go_back_to_wait(app, redis_client, proxied_db):
    from workers.pipeline import actors

    session_events.park_receipts(redis_client, [receipt("WA-LATE", "delivered")])
    redis_client.zadd(
        keys.RECEIPTS_WAITING, {m: 0 for m in redis_client.zrange(keys.RECEIPTS_WAITING, 0, -1)}
    )  # due now
    proxied_db.cut()
    actors.fold_session_events.fn()
    assert redis_client.zcard(keys.RECEIPTS_WAITING) == 1
