"""The reconciler queues again what a Redis that lost its data forgot, and nothing else."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppQueueJob
from webapp.services import jobs, messages
from workers import broker, keys


def test_rows_whose_job_redis_lost_are_queued_again(app, redis_client):
    app.config["RECONCILE_AFTER_S"] = 0
    try:
        with app.app_context():
            texts = [("081234567890", "a"), ("081234567891", "b")]
            kept, lost = messages.queue_texts(texts, band=broker.NORMAL)
            assert jobs.reconcile() == 0  # both jobs alive: nothing to do
            lost_job = db.session.get(WhatsAppMessage, lost).job_id
            redis_client.srem(keys.JOBS_LIVE, lost_job)  # as if Redis had lost it
            assert jobs.reconcile() == 1
            ledger = db.session.scalars(
                db.select(WhatsAppQueueJob).where(WhatsAppQueueJob.message_row_id == lost)
                .order_by(WhatsAppQueueJob.id)
            ).all()
            assert [j.status for j in ledger] == ["failed", "pending"]
            assert db.session.get(WhatsAppMessage, lost).job_id == ledger[1].job_id
            assert redis_client.sismember(keys.JOBS_LIVE, ledger[1].job_id)
            assert jobs.reconcile() == 0
            assert db.session.get(WhatsAppMessage, kept).job_id != ledger[1].job_id
    finally:
        app.config["RECONCILE_AFTER_S"] = 300


def test_a_lost_bulk_batch_is_queued_again_as_one_batch(app, redis_client):
    app.config["RECONCILE_AFTER_S"] = 0
    try:
        with app.app_context():
            ids = messages.queue_texts([(f"0812345678{n:02d}", "x") for n in range(3)])
            rows = [db.session.get(WhatsAppMessage, i) for i in ids]
            assert len({row.job_id for row in rows}) == 1  # one job sends the batch
            batch = db.session.scalar(
                db.select(WhatsAppQueueJob).where(WhatsAppQueueJob.job_id == rows[0].job_id)
            )
            assert batch.job_data == {"message_ids": ids}
            redis_client.srem(keys.JOBS_LIVE, batch.job_id)
            assert jobs.reconcile() == 3
            db.session.expire_all()
            again = {db.session.get(WhatsAppMessage, i).job_id for i in ids}
            assert len(again) == 1 and again != {batch.job_id}
            assert redis_client.sismember(keys.JOBS_LIVE, again.pop())
            assert jobs.reconcile() == 0
    finally:
        app.config["RECONCILE_AFTER_S"] = 300


def test_young_rows_are_left_alone(app, redis_client):
    with app.app_context():
        messages.queue_texts([("081234567890", "a")])
        redis_client.delete(keys.JOBS_LIVE)
        assert jobs.reconcile() == 0
