"""Send errors about the recipient or an answer that never came, through the services with a
real session host (in-process, simulator numbers), PostgreSQL and Redis: the message is settled
alone and the number that met the error is neither rested nor passed over."""

from __future__ import annotations

import json
import time

import pytest

from tests.pipeline.test_deliverability import ctx, delivered, link, phone  # noqa: F401
from tests.session_host.test_session_host import make_host  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import routing, sending, sessions
from workers.queue import broker, keys
from workers.session_host.simulated_network import SimulatedNetwork


def unpaced() -> None:
    db.session.execute(db.update(WhatsAppSession).values(interval_ms=0, jitter_ms=0))
    db.session.commit()
    routing.forget_sessions()


def row(message_id: int) -> WhatsAppMessage:
    found = db.session.get(WhatsAppMessage, message_id)
    db.session.refresh(found)
    return found


def eta_s(redis_client, message: WhatsAppMessage) -> float:
    """When the job that owns ``message`` is due (s since the epoch), read from Dramatiq."""
    delayed = keys.dramatiq_messages(broker.broker.namespace, broker.dq_name(message.band))
    for data in redis_client.hvals(delayed):
        job = json.loads(data)
        if job["message_id"] == message.job_id:
            return job["options"]["eta"] / 1000
    raise AssertionError(f"job {message.job_id} is not delayed")


def not_blamed(session_id: str, redis_client) -> bool:
    errors = db.session.scalar(
        db.select(WhatsAppSession.error_count).where(WhatsAppSession.session_id == session_id)
    )
    return not redis_client.exists(keys.error_backoff(session_id)) and errors == 0


def test_a_recipient_without_whatsapp_fails_alone_and_its_number_sends_the_rest(
    link,  # noqa: F811
    redis_client,
):
    first, _second = link(2)
    unpaced()
    sessions.host_call(first, "simulate", action="not_on_whatsapp", params={"phones": [phone(2)]})
    ids = messages.queue_texts([(phone(n), f"Info {n}") for n in range(1, 5)], routing="failover")

    outcome = sending.deliver_batch(ids)

    assert (outcome.sent, outcome.failed, outcome.unsent) == (3, 1, [])
    failed = row(ids[1])
    assert failed.status == "failed" and "not on WhatsApp" in failed.error_message
    senders = {row(i).session_id for i in (ids[0], ids[2], ids[3])}
    assert senders == {first}  # no fail-over to the other number
    assert not_blamed(first, redis_client)


@pytest.mark.parametrize("fault", ["no_lid", "reach_out_479"])
def test_a_refusal_about_the_recipient_fails_the_message_with_its_reason(link, redis_client, fault):  # noqa: F811
    (sid,) = link(1)
    sessions.simulator_fault(sid, fault)
    (message_id,) = messages.queue_texts([(phone(1), "Tagihan")], routing="failover")

    assert delivered(redis_client, message_id) == "failed"

    failed = row(message_id)
    assert failed.status == "failed"
    assert ("479" in failed.error_message) == (fault == "reach_out_479")
    assert not_blamed(sid, redis_client)


def test_the_limit_on_new_contacts_holds_the_message_with_its_reason(
    link,  # noqa: F811
    redis_client,
):
    (sid,) = link(1)
    sessions.simulator_fault(sid, "reach_out_463")
    (message_id,) = messages.queue_texts([(phone(1), "Tagihan")], routing="failover")

    assert delivered(redis_client, message_id) == "queued"

    # Held an hour in a job of its own (not retried at once), the number not blamed.
    held = row(message_id)
    assert held.status == "queued" and "463" in held.error_message
    assert eta_s(redis_client, held) > time.time() + sending.REACH_OUT_HOLD_MS / 1000 - 60
    assert not_blamed(sid, redis_client)


def test_an_unconfirmed_send_fails_saying_so_and_is_never_sent_again(
    link,  # noqa: F811
    redis_client,
):
    (sid,) = link(1)
    sessions.simulator_fault(sid, "send_timeout")
    (message_id,) = messages.queue_texts([(phone(1), "Tagihan")], routing="failover")
    network = SimulatedNetwork(redis_client)

    assert delivered(redis_client, message_id) == "failed"
    assert row(message_id).error_message == sending.SEND_UNCERTAIN_REASON
    assert len(network.inbox(phone(1))) == 1  # it went out

    sessions.simulator_fault(sid, "clear")
    assert sending.deliver(message_id) == "not queued"  # a retry sends nothing
    assert len(network.inbox(phone(1))) == 1
    assert not_blamed(sid, redis_client)
