"""The reconciler queues again what a Redis that lost its data forgot, and nothing else."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import WhatsAppQueueJob
from webapp.services import jobs, messages
from workers import keys


def test_rows_whose_job_redis_lost_are_queued_again(app, redis_client):
    app.config["RECONCILE_AFTER_S"] = 0
    try:
        with app.app_context():
            kept, lost = messages.queue_texts([("081234567890", "a"), ("081234567891", "b")])
            assert jobs.reconcile() == 0  # both jobs alive: nothing to do
            lost_job = db.session.scalar(
                db.select(WhatsAppQueueJob.job_id).where(WhatsAppQueueJob.message_row_id == lost)
            )
            redis_client.srem(keys.JOBS_LIVE, lost_job)  # as if Redis had lost it
            assert jobs.reconcile() == 1
            ledger = db.session.scalars(
                db.select(WhatsAppQueueJob).where(WhatsAppQueueJob.message_row_id == lost)
                .order_by(WhatsAppQueueJob.id)
            ).all()
            assert [j.status for j in ledger] == ["failed", "pending"]
            assert redis_client.sismember(keys.JOBS_LIVE, ledger[1].job_id)
            assert jobs.reconcile() == 0
            assert kept
    finally:
        app.config["RECONCILE_AFTER_S"] = 300


def test_young_rows_are_left_alone(app, redis_client):
    with app.app_context():
        messages.queue_texts([("081234567890", "a")])
        redis_client.delete(keys.JOBS_LIVE)
        assert jobs.reconcile() == 0
