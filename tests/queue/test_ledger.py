"""The job ledger, written by its middleware in a real Dramatiq worker on the real broker."""

from __future__ import annotations

import dramatiq
import pytest

from tests.polling import wait_for
from webapp.extensions import db
from webapp.models import WhatsAppQueueJob
from workers.queue import broker
from workers.queue.contracts import SEND_ACTORS, Band


@pytest.fixture
def worker(app):
    import workers.pipeline.actors  # noqa: F401 - registers the actors and the ledger on the broker

    worker = dramatiq.Worker(broker.broker, queues={Band.URGENT}, worker_threads=1)
    worker.start()
    yield worker
    worker.stop()


def ledger_row(app, job_id: str) -> WhatsAppQueueJob | None:
    with app.app_context():
        row = db.session.scalar(
            db.select(WhatsAppQueueJob).where(WhatsAppQueueJob.job_id == job_id)
        )
        db.session.expunge_all()
    return row


def test_a_job_whose_retries_are_spent_is_recorded_failed(app, worker):
    """A job that cannot run (its payload is no message id) fails each attempt; after the last,
    the ledger says failed, with the error, and Redis holds the job no more."""
    job = broker.message(
        SEND_ACTORS[Band.URGENT],
        Band.URGENT,
        "not-a-message-id",
        max_retries=1,
        min_backoff=10,
        max_backoff=20,
    )
    with app.app_context():
        db.session.add(
            WhatsAppQueueJob(job_id=job.message_id, queue_name=Band.URGENT, status="pending")
        )
        db.session.commit()
    broker.enqueue_job(job)

    row = wait_for(
        lambda: (r := ledger_row(app, job.message_id)) and r.status == "failed" and r, timeout=30
    )
    assert row.attempts == 2 and row.failed_at is not None and row.error_message
    assert broker.whereabouts([job.message_id]) == {}
