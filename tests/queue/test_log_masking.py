"""What Dramatiq writes to the log about Kabar's jobs: actor and ids, never a customer's number
or words (a webhook body carries both)."""

from __future__ import annotations

import logging

import dramatiq

from tests.polling import wait_for
from tests.unit.queue.test_masking import PHONE, TEXT
from workers.pipeline import webhooks
from workers.queue import broker
from workers.queue.contracts import Band


def test_a_job_that_fails_is_logged_with_its_arguments_masked(app, caplog):
    import workers.pipeline.actors  # noqa: F401 - the real actors, as a worker process loads them

    with app.app_context():
        hook_id = webhooks.create_webhook("https://billing.example/hook")[0].id
    # A body that is not text makes the delivery fail with an unhandled error.
    body = {"data": {"from": PHONE, "text": TEXT}}
    broker.enqueue("deliver_webhook", Band.MAINTENANCE, hook_id, "message.incoming", "d-1", body)
    caplog.set_level(logging.DEBUG, logger="dramatiq")
    worker = dramatiq.Worker(broker.broker, queues={Band.MAINTENANCE}, worker_threads=1)
    worker.start()
    try:
        wait_for(lambda: "Failed to process message" in caplog.text, timeout=20)
    finally:
        worker.stop()
    assert f"deliver_webhook({hook_id}, 'message.incoming', 'd-1', '[masked dict]')" in caplog.text
    assert PHONE not in caplog.text and TEXT not in caplog.text
