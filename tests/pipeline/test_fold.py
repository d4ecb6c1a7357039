"""The fold actor applies a batch of session events in one transaction, and when one event
cannot be folded it sets that one aside and still applies the others."""

from __future__ import annotations

import logging
import time

from tests.folding import receipt, sent_message
from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.queue import keys, session_events


def test_a_batch_is_folded_and_a_bad_event_set_aside(app, redis_client):
    from workers.pipeline import actors

    with app.app_context():
        db.session.add(WhatsAppSession(session_id="s-1", device_id="d-1"))
        first, second = sent_message("WA-1"), sent_message("WA-2")
    # A QR event without its expiry cannot be folded.
    bad = {"session_id": "s-1", "kind": "qr", "at": time.time(), "code": "2@abc"}
    for event in (receipt("WA-1", "delivered"), bad, receipt("WA-2", "read")):
        session_events.publish(redis_client, event)

    actors.fold_session_events.fn()

    with app.app_context():
        assert db.session.get(WhatsAppMessage, first).status == "delivered"
        assert db.session.get(WhatsAppMessage, second).status == "read"
    dead = redis_client.xrange(keys.SESSION_EVENTS_DEAD)
    assert len(dead) == 1 and b"2@abc" in dead[0][1][b"data"]
    pending = redis_client.xpending(keys.SESSION_EVENTS, keys.SESSION_EVENTS_GROUP)
    assert pending["pending"] == 0


def test_a_good_batch_is_folded_whole(app, redis_client):
    from workers.pipeline import actors

    with app.app_context():
        ids = [sent_message(f"WA-{n}") for n in range(20)]
    for n in range(20):
        session_events.publish(redis_client, receipt(f"WA-{n}", "delivered"))

    actors.fold_session_events.fn()

    with app.app_context():
        statuses = {db.session.get(WhatsAppMessage, i).status for i in ids}
    assert statuses == {"delivered"}
    assert redis_client.xlen(keys.SESSION_EVENTS_DEAD) == 0


def test_a_receipt_that_overtakes_its_send_is_folded_once_the_send_is_known(app, redis_client):
    """The receipt of a batch's first message can reach the folder before the worker marked
    the row sent (or the host wrote its record): it waits and is tried again, not dropped."""
    from workers.pipeline import actors

    session_events.publish(redis_client, receipt("WA-LATE", "delivered"))
    actors.fold_session_events.fn()
    assert redis_client.zcard(keys.RECEIPTS_WAITING) == 1

    with app.app_context():
        message_id = sent_message("WA-LATE")  # the worker marks it sent meanwhile
    # Its time to be tried again comes (no waiting in a test: make it due now).
    (parked,) = redis_client.zrange(keys.RECEIPTS_WAITING, 0, 0)
    redis_client.zadd(keys.RECEIPTS_WAITING, {parked: 0})
    actors.fold_session_events.fn()

    with app.app_context():
        assert db.session.get(WhatsAppMessage, message_id).status == "delivered"
    assert redis_client.zcard(keys.RECEIPTS_WAITING) == 0


def test_a_receipt_of_a_message_kabar_never_sent_is_dropped_after_its_last_try(redis_client):
    events = [{**receipt("WA-PHONE", "read"), "tries": len(session_events.RECEIPT_RETRY_S)}]
    assert session_events.park_receipts(redis_client, events) == 1
    assert redis_client.zcard(keys.RECEIPTS_WAITING) == 0


def test_an_event_that_cannot_be_folded_is_not_written_to_the_log(
    app, redis_client, caplog, monkeypatch
):
    """The event (a QR code here: whoever reads it can link the number) stays in the dead
    letters for the operator; the log says which entry failed and why, not what it held."""
    from workers.pipeline import actors

    # Alembic's logging set-up (a migration test ran first) disables the loggers it finds.
    monkeypatch.setattr(logging.getLogger(actors.__name__), "disabled", False)
    caplog.set_level(logging.INFO, logger=actors.__name__)
    with app.app_context():
        db.session.add(WhatsAppSession(session_id="s-1", device_id="d-1"))
        db.session.commit()
    qr = "2@SECRET-QR-CODE-0123,abcdef="
    # The code where its expiry belongs: the error that stops the fold quotes the value.
    shifted = {"session_id": "s-1", "kind": "qr", "at": time.time(), "code": qr, "expires_at": qr}
    # A phone number longer than its column: the database refuses the whole update.
    too_long = {"session_id": "s-1", "kind": "qr", "at": time.time(), "code": qr,
                "expires_at": time.time() + 60, "phone": "62" + "8" * 60}  # fmt: skip
    session_events.publish_many(redis_client, [shifted, too_long])

    actors.fold_session_events.fn()

    dead = redis_client.xrange(keys.SESSION_EVENTS_DEAD)
    assert len(dead) == 2 and all(qr.encode() in fields[b"data"] for _, fields in dead)
    assert caplog.text.count("could not fold session event") == 2
    assert "ValueError" in caplog.text and "StringDataRightTruncation" in caplog.text
    assert qr not in caplog.text and "8" * 20 not in caplog.text
