"""Dramatiq jobs Kabar did not queue never run, whichever queue they were written to, and an
unsigned job is set aside where the operator sees it, not acknowledged away."""

from __future__ import annotations

import json
import logging
import os

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from tests.polling import wait_for
from tests.receivers import webhook_receiver
from workers.pipeline import webhooks
from workers.queue import broker
from workers.queue.contracts import Band

FORGED = json.dumps({"event": "message.incoming", "data": {"text": "LUNAS"}})


@pytest.fixture
def worker():
    import workers.pipeline.actors  # noqa: F401 - the real actors, as a worker process loads them

    running = dramatiq.Worker(broker.broker, queues={Band.MAINTENANCE}, worker_threads=1)
    yield running
    running.stop()


def _forger() -> RedisBroker:
    """Someone else's Dramatiq client on Kabar's Redis: no Kabar middleware, no key."""
    forger = RedisBroker(url=os.environ["REDIS_URL"], middleware=[])
    forger.declare_queue(Band.MAINTENANCE)
    return forger


def _dead(redis_client) -> int:
    return redis_client.hlen(f"{broker.broker.namespace}:{Band.MAINTENANCE}.XQ.msgs")


def test_a_forged_job_written_to_a_delay_queue_does_not_run(
    app, worker, caplog, redis_client, private_webhooks
):
    """A delayed job coming due is queued again by the worker itself: it must not come out of
    that signed."""
    caplog.set_level(logging.INFO)
    with webhook_receiver() as receiver, app.app_context():
        hook_id = webhooks.create_webhook(receiver.url)[0].id
        job = broker.message(
            "deliver_webhook", Band.MAINTENANCE, hook_id, "message.incoming", "forged-1", FORGED
        )
        _forger().enqueue(job, delay=50)
        worker.start()
        wait_for(lambda: "skipped job" in caplog.text or receiver.received(), timeout=20)
        assert receiver.received() == []
    assert _dead(redis_client) == 1


def test_an_unsigned_job_is_dead_lettered_with_the_reason_logged(app, worker, caplog, redis_client):
    """A job queued before signing existed (or forged) is kept in the dead letters, counted on
    the queue page, and the log says why."""
    caplog.set_level(logging.INFO)
    with app.app_context():
        hook_id = webhooks.create_webhook("https://billing.example/hook")[0].id
    _forger().enqueue(
        broker.message(
            "deliver_webhook", Band.MAINTENANCE, hook_id, "message.incoming", "old-1", FORGED
        )
    )
    worker.start()
    wait_for(lambda: _dead(redis_client) == 1, timeout=20)
    assert "dead letters" in caplog.text
    assert "LUNAS" not in caplog.text


def test_a_signed_delayed_job_runs_when_due(app, worker, private_webhooks):
    with webhook_receiver() as receiver, app.app_context():
        hook_id = webhooks.create_webhook(receiver.url)[0].id
        body = json.dumps({"event": "message.incoming", "data": {"text": "Halo"}})
        job = broker.message(
            "deliver_webhook", Band.MAINTENANCE, hook_id, "message.incoming", "real-1", body
        )
        broker.enqueue_job(job, delay_ms=50)
        worker.start()
        (delivered,) = wait_for(receiver.received, timeout=20)
    assert delivered.json()["data"]["text"] == "Halo"


def test_a_job_signed_with_another_secret_says_so(app, worker, caplog, redis_client):
    """A web process started with another KABAR_RPC_SECRET: the worker's log names the setting."""
    from workers.queue import job_signatures, signing

    caplog.set_level(logging.INFO)
    other = signing.channel_key("another secret")
    job = broker.message("fold_session_events", Band.MAINTENANCE)
    job.options[job_signatures.OPTION] = signing.sign(
        signing.QUEUED_JOB, job_signatures._payload(job), other
    )
    job.options[job_signatures.KEY_ID] = signing.key_id(other)
    _forger().enqueue(job)
    worker.start()
    wait_for(lambda: _dead(redis_client) == 1, timeout=20)
    assert "signed with another key: KABAR_RPC_SECRET" in caplog.text
