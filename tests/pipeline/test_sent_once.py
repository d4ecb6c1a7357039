"""Sent at most once even when Redis loses the session hosts' sent records: a row is marked
handed over in PostgreSQL before it goes, with the run id of the Redis that holds its record."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import routing, sending
from workers.queue import keys


@pytest.fixture
def ctx(app):
    with app.app_context():
        db.session.add(
            WhatsAppSession(
                session_id="session-1",
                device_id="WA-1",
                priority=1,
                status="connected",
                transport="simulator",
                interval_ms=0,
                jitter_ms=0,
            )
        )
        db.session.commit()
        routing.forget_sessions()
        yield app
        db.session.rollback()


def handed(message_id: int, redis_run: str | None) -> None:
    row = db.session.get(WhatsAppMessage, message_id)
    row.handed_at, row.handed_redis = db.func.now(), redis_run
    db.session.commit()


def row(message_id: int) -> WhatsAppMessage:
    db.session.expire_all()
    return db.session.get(WhatsAppMessage, message_id)


def test_a_row_handed_over_before_redis_lost_its_record_is_never_sent_again(ctx):
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    handed(message_id, "the-redis-before-its-restart")
    outcome = sending.deliver_batch([message_id])
    assert outcome.failed == 1 and outcome.sent == 0
    failed = row(message_id)
    assert failed.status == "failed" and failed.error_message == sending.LOST_RECORD


def test_a_row_handed_over_to_this_redis_without_a_record_never_went_out(ctx, redis_client):
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    handed(message_id, str(redis_client.info("server")["run_id"]))
    outcome = sending.deliver_batch([message_id])
    # It goes to the session host again (none runs here: the number rests and the row waits).
    assert outcome.failed == 0 and outcome.later == [message_id]
    assert row(message_id).status == "queued"


def test_a_row_whose_record_survives_goes_to_the_host_which_knows_it(ctx, redis_client):
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    handed(message_id, "the-redis-before-its-restart")
    redis_client.set(keys.sent_record(str(message_id)), '{"state": "sent"}')
    outcome = sending.deliver_batch([message_id])
    assert outcome.failed == 0 and row(message_id).status == "queued"


def test_a_call_that_reached_no_host_leaves_the_row_not_handed_over(ctx):
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    sending.deliver_batch([message_id])
    assert row(message_id).handed_at is None and row(message_id).handed_redis is None
