"""The operator's resend of a failed message, against the claims a session host leaves in Redis
(written here as the host writes them): only a dead host's unfinished claim is dropped."""

from __future__ import annotations

import json

import pytest

from webapp.core.errors import Conflict
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage
from workers.queue import broker, jobs, keys
from workers.queue.contracts import Band

CLAIM = {"state": "sending", "host": "h1", "session_id": "session-1"}
SENT = {"state": "sent", "session_id": "session-1", "wa_message_id": "W1", "sent_at": 1.0}


@pytest.fixture
def failed(app):
    """A failed message's id, in an app context."""
    with app.app_context():
        (message_id,) = messages.queue_texts([("081234567890", "hi")], band=Band.NORMAL)
        db.session.get(WhatsAppMessage, message_id).status = "failed"
        db.session.commit()
        yield message_id
        db.session.rollback()


def record(redis_client, message_id: int) -> dict | None:
    raw = redis_client.get(keys.sent_record(message_id))
    return None if raw is None else json.loads(raw)


def status(message_id: int) -> str:
    db.session.expire_all()
    return db.session.get(WhatsAppMessage, message_id).status


def test_a_dead_hosts_claim_is_dropped_and_the_message_queued_again(failed, redis_client):
    redis_client.set(keys.sent_record(failed), json.dumps(CLAIM))  # h1 has no heartbeat

    jobs.resend(db.session.get(WhatsAppMessage, failed))

    assert record(redis_client, failed) is None
    row = db.session.get(WhatsAppMessage, failed)
    assert status(failed) == "queued" and broker.alive([row.job_id]) == {row.job_id}


def test_a_live_hosts_claim_is_kept_and_the_resend_refused(failed, redis_client):
    redis_client.set(keys.sent_record(failed), json.dumps(CLAIM))
    redis_client.set(keys.host("h1"), json.dumps(["session-1"]), px=3000)

    with pytest.raises(Conflict) as refused:
        jobs.resend(db.session.get(WhatsAppMessage, failed))

    assert refused.value.status == 409
    assert "still being sent by a live session host" in refused.value.message
    assert record(redis_client, failed) == CLAIM
    assert status(failed) == "failed"


def test_a_sent_record_is_never_deleted(failed, redis_client):
    redis_client.set(keys.sent_record(failed), json.dumps(SENT))

    jobs.resend(db.session.get(WhatsAppMessage, failed))

    assert record(redis_client, failed) == SENT
    assert status(failed) == "queued"  # its send answers with the record: sent once
