"""A row belongs to one job at a time: a row given back to wait, or queued again by the
reconciler, is sent, retried and failed by its new job only, never by the old one's retries."""

from __future__ import annotations

import pytest

from tests.receivers import dramatiq_messages
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage
from workers.pipeline import routing, sending
from workers.queue import jobs


@pytest.fixture
def ctx(app):
    with app.app_context():
        routing.forget_sessions()
        yield
        db.session.rollback()


def test_a_row_given_back_leaves_the_job_that_retries_the_others(ctx, redis_client):
    ids = messages.queue_texts([(f"08123456780{n}", f"Info {n}") for n in range(3)])
    old_job = db.session.get(WhatsAppMessage, ids[0]).job_id
    waiting, *others = ids

    jobs.give_back([waiting], delay_ms=60_000)

    db.session.expire_all()
    assert db.session.get(WhatsAppMessage, waiting).job_id not in (None, old_job)
    delayed = dramatiq_messages(redis_client, "bulk.DQ", "send_bulk")
    assert [m["args"] for m in delayed] == [[[waiting]]]
    # The old job, retried with no number to send through, deals with its own rows only...
    outcome = sending.deliver_batch(ids, old_job)
    assert sorted(outcome.unsent + outcome.later) == sorted(others)
    # ... and when its attempts run out it fails only those.
    sending.mark_failed(ids, 3, old_job)
    db.session.expire_all()
    statuses = {i: db.session.get(WhatsAppMessage, i).status for i in ids}
    assert statuses == {waiting: "queued", others[0]: "failed", others[1]: "failed"}
