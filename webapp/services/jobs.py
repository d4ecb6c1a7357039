"""The job ledger (the seed's whatsapp_queue_jobs) and the reconciler that trusts it.

A job row is written with its message row, in the same transaction, before the job reaches
Redis; the worker middleware then records each attempt. If Redis loses its data, the ledger and
the message rows still say what must be sent, and ``reconcile`` queues it again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppQueueJob
from workers import broker

log = logging.getLogger(__name__)


def new_job(message: WhatsAppMessage, max_attempts: int):
    """Build the Dramatiq message for ``message`` and add its ledger row to the session."""
    job = broker.message(broker.SEND_ACTORS[message.band], message.band, message.id)
    db.session.add(
        WhatsAppQueueJob(
            job_id=job.message_id,
            queue_name=message.band,
            job_data={"message_id": message.id},
            priority=message.priority,
            max_attempts=max_attempts,
            status="pending",
            scheduled_at=datetime.now(UTC),
            message_row_id=message.id,
        )
    )
    return job


def _update(job_id: str, **values) -> None:
    db.session.execute(
        sa.update(WhatsAppQueueJob).where(WhatsAppQueueJob.job_id == job_id).values(**values)
    )
    db.session.commit()


def started(job_id: str, attempt: int) -> None:
    _update(job_id, status="started", started_at=datetime.now(UTC), attempts=attempt)


def completed(job_id: str) -> None:
    broker.forget(job_id)
    _update(job_id, status="completed", completed_at=datetime.now(UTC), error_message=None)


def given_back(job_id: str) -> None:
    """The job went back to the queue to wait for a free slot (not an attempt)."""
    _update(job_id, status="pending", scheduled_at=datetime.now(UTC))


def retrying(job_id: str, error: str) -> None:
    _update(job_id, status="retrying", error_message=error[:2000])


def failed(job_id: str, error: str) -> None:
    broker.forget(job_id)
    _update(job_id, status="failed", failed_at=datetime.now(UTC), error_message=error[:2000])


def reconcile(limit: int = 1000) -> int:
    """Queue again the queued rows whose job Redis no longer holds; return how many.

    Only rows older than RECONCILE_AFTER_S are looked at, so a row between its commit and its
    enqueue is never mistaken for a lost one.
    """
    horizon = datetime.now(UTC) - timedelta(seconds=current_app.config["RECONCILE_AFTER_S"])
    latest_job = (
        sa.select(WhatsAppQueueJob.job_id)
        .where(WhatsAppQueueJob.message_row_id == WhatsAppMessage.id)
        .order_by(WhatsAppQueueJob.id.desc())
        .limit(1)
        .lateral()
    )
    rows = db.session.execute(
        sa.select(WhatsAppMessage, latest_job.c.job_id)
        .outerjoin(latest_job, sa.true())
        .where(WhatsAppMessage.status == "queued", WhatsAppMessage.created_at < horizon)
        .order_by(WhatsAppMessage.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    alive = broker.alive([job_id for _, job_id in rows if job_id])
    lost = [message for message, job_id in rows if job_id not in alive]
    lost_jobs = [job_id for message, job_id in rows if job_id and job_id not in alive]
    if lost_jobs:
        db.session.execute(
            sa.update(WhatsAppQueueJob)
            .where(WhatsAppQueueJob.job_id.in_(lost_jobs))
            .values(
                status="failed", failed_at=datetime.now(UTC), error_message="lost; queued again"
            )
        )
    jobs = [new_job(message, max_attempts=3) for message in lost]
    db.session.commit()
    for job in jobs:
        broker.enqueue_job(job)
    if lost:
        log.warning("re-queued %d message(s) whose job was lost", len(lost))
    return len(lost)


def resend(message: WhatsAppMessage) -> None:
    """Queue a failed message again (a new job; the session host still sends it only once)."""
    from webapp.services.errors import Conflict

    if message.status != "failed":
        raise Conflict(f"message {message.id} is {message.status}, not failed", field="id")
    message.status = "queued"
    message.retry_count = 0
    message.error_message = None
    job = new_job(message, max_attempts=3)
    db.session.commit()
    broker.enqueue_job(job)


def cancel(message: WhatsAppMessage) -> None:
    """Stop a queued message from being sent; its job finds it cancelled and does nothing."""
    from webapp.services.errors import Conflict

    if message.status != "queued":
        raise Conflict(f"message {message.id} is {message.status}, not queued", field="id")
    message.status = "cancelled"
    db.session.commit()
