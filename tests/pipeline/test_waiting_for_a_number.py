"""No number able to send is a wait, not a failure: it costs no attempt until a time limit,
the row says why it waits, and one outage rests a number once however many threads hit it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.limits import connected, ctx  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import routing, sending
from workers.queue import keys

pytestmark = pytest.mark.usefixtures("ctx")


def test_with_no_number_connected_messages_wait_without_spending_an_attempt():
    ids = messages.queue_texts([("081234567801", "Info")])
    outcome = sending.deliver_batch(ids)
    assert outcome.unsent == [] and outcome.later == ids and outcome.later_ms >= 500
    row = db.session.get(WhatsAppMessage, ids[0])
    assert row.status == "queued" and row.retry_count == 0
    assert row.error_message == "waiting for a number that can send: no number is connected"


def test_an_unhosted_number_is_rested_and_waited_for(redis_client):
    connected("session-1")  # connected in the database, but no session host runs it
    ids = messages.queue_texts([("081234567801", "Info")])
    outcome = sending.deliver_batch(ids)
    assert outcome.later == ids and outcome.failures == 0
    assert redis_client.exists(keys.error_backoff("session-1"))
    db.session.expire_all()
    reason = db.session.get(WhatsAppMessage, ids[0]).error_message
    assert reason == "waiting for a number that can send: session-1 rests after send errors"


def test_past_the_waiting_limit_no_number_is_a_failed_attempt(app, monkeypatch):
    monkeypatch.setitem(app.config, "WAIT_FOR_NUMBER_S", 0)
    ids = messages.queue_texts([("081234567801", "Info")])
    outcome = sending.deliver_batch(ids)
    assert outcome.unsent == ids and outcome.later == []
    assert "no number is connected" in outcome.reason


def test_one_outage_rests_a_number_once_however_many_threads_fail_on_it(redis_client):
    first = routing.record_failure("session-1")
    again = [routing.record_failure("session-1") for _ in range(10)]
    assert all(0 < ms <= first for ms in again)
    assert int(redis_client.get(keys.error_streak("session-1"))) == 1
    # The next outage, once the rest is over, doubles it.
    redis_client.delete(keys.error_backoff("session-1"))
    assert routing.record_failure("session-1") == 2 * first


def test_the_waiting_limit_counts_from_when_the_wait_began_not_from_the_rows_age():
    ids = messages.queue_texts([("081234567801", "Info")])
    row = db.session.get(WhatsAppMessage, ids[0])
    row.created_at = datetime.now(UTC) - timedelta(hours=5)  # queued long ago, waits only now
    db.session.commit()
    outcome = sending.deliver_batch(ids)
    assert outcome.later == ids, outcome
    db.session.expire_all()
    began = db.session.get(WhatsAppMessage, ids[0]).waiting_since
    assert began is not None and datetime.now(UTC) - began < timedelta(minutes=1)
    # An hour of waiting later, the wait counts as a failed attempt.
    db.session.get(WhatsAppMessage, ids[0]).waiting_since = began - timedelta(hours=2)
    db.session.commit()
    assert sending.deliver_batch(ids).unsent == ids


def test_a_number_at_its_daily_cap_is_waited_for_however_long(app, redis_client, monkeypatch):
    connected("session-1")
    session = db.session.scalar(db.select(WhatsAppSession))
    session.daily_cap = 1
    db.session.commit()
    routing.forget_sessions()
    routing.record_success("session-1")  # today's one send is spent
    monkeypatch.setitem(app.config, "WAIT_FOR_NUMBER_S", 0)
    ids = messages.queue_texts([("081234567801", "Info")])
    outcome = sending.deliver_batch(ids)
    assert outcome.later == ids and outcome.unsent == []
    db.session.expire_all()
    assert "reached today's limit of 1" in db.session.get(WhatsAppMessage, ids[0]).error_message
