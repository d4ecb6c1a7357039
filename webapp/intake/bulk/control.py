"""Pause, resume, cancel, and resend the failed: an operator's changes to a bulk send, each
under the lock of the job's row so that a batch being written never interleaves with them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from webapp.core.errors import Conflict
from webapp.extensions import db
from webapp.intake.bulk.expansion import _lock
from webapp.intake.bulk.progress import WAITING
from webapp.intake.bulk.submit import _queue_expansion, get_job
from webapp.intake.messages import MAX_ATTEMPTS
from webapp.models import BulkJob, WhatsAppMessage, as_utc
from workers.queue import broker, jobs
from workers.queue.contracts import BulkStatus, MessageStatus

ACTIVE = (BulkStatus.SCHEDULED, BulkStatus.PENDING, BulkStatus.EXPANDING, BulkStatus.RUNNING)
FINISHED = (BulkStatus.COMPLETED, BulkStatus.CANCELLED)


def pause(job_id: str) -> BulkJob:
    """Stop sending: the job's queued rows become ``paused`` and expansion stops."""
    job = get_job(job_id)
    status, _ = _lock(job.id)
    if status not in ACTIVE:
        db.session.rollback()
        raise Conflict(
            f"bulk send {job_id} is {status}; only an active one can pause", field="jobId"
        )
    M = WhatsAppMessage
    db.session.execute(
        sa.update(BulkJob).where(BulkJob.id == job.id).values(status=BulkStatus.PAUSED)
    )
    paused = db.session.scalars(
        sa.update(M)
        .where(M.bulk_job_id == job.id, M.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.PAUSED, held_reason=None, held_until=None)
        .returning(M.id)
    ).all()
    jobs.stop_sending(paused)
    db.session.refresh(job)
    return job


def resume(job_id: str) -> BulkJob:
    """Go on: paused rows are queued again with fresh jobs, expansion goes on where it stopped."""
    job = get_job(job_id)
    status, expanded = _lock(job.id)
    if status != BulkStatus.PAUSED:
        db.session.rollback()
        raise Conflict(f"bulk send {job_id} is {status}, not paused", field="jobId")
    if expanded < job.total:
        future = job.schedule_at and as_utc(job.schedule_at) > datetime.now(UTC) and not expanded
        next_status = BulkStatus.SCHEDULED if future else BulkStatus.PENDING
    else:
        next_status = BulkStatus.RUNNING
    db.session.execute(sa.update(BulkJob).where(BulkJob.id == job.id).values(status=next_status))
    db.session.commit()
    _requeue_paused(job.id)
    if next_status == BulkStatus.PENDING:
        _queue_expansion(job.id)
    db.session.refresh(job)
    return job


def _requeue_paused(bulk_id: int, batch: int = 500) -> int:
    M = WhatsAppMessage
    requeued = 0
    while True:
        status, _ = _lock(bulk_id)
        # Paused or cancelled again meanwhile.
        if status in (BulkStatus.PAUSED, BulkStatus.CANCELLED):
            db.session.rollback()
            return requeued
        rows = list(
            db.session.scalars(
                sa.select(M)
                .where(M.bulk_job_id == bulk_id, M.status == MessageStatus.PAUSED)
                .limit(batch)
            )
        )
        if not rows:
            db.session.rollback()
            return requeued
        for row in rows:
            row.status = MessageStatus.QUEUED
            row.waiting_since = None  # a wait for a number counts from the resume
        queued = jobs.new_jobs(rows, MAX_ATTEMPTS)
        db.session.commit()
        for queued_job in queued:
            broker.enqueue_job(queued_job)
        requeued += len(rows)


def cancel(job_id: str) -> BulkJob:
    """Stop for good: every row not yet sent becomes ``cancelled``; nothing more is expanded."""
    job = get_job(job_id)
    status, _ = _lock(job.id)
    if status in FINISHED:
        db.session.rollback()
        raise Conflict(f"bulk send {job_id} is {status} already", field="jobId")
    M = WhatsAppMessage
    db.session.execute(
        sa.update(BulkJob)
        .where(BulkJob.id == job.id)
        .values(status=BulkStatus.CANCELLED, finished_at=sa.func.now())
    )
    cancelled = db.session.scalars(
        sa.update(M)
        .where(M.bulk_job_id == job.id, M.status.in_(WAITING))
        .values(
            status=MessageStatus.CANCELLED,
            error_message="bulk send cancelled",
            held_reason=None,
            held_until=None,
        )
        .returning(M.id)
    ).all()
    jobs.stop_sending(cancelled)
    db.session.refresh(job)
    return job


def resend_failed(job_id: str) -> tuple[int, int]:
    """Queue every failed row of the job again, once: (rows queued, rows left failed because a
    live session host still holds their send). A completed job runs again until they are done.
    Refused for a job that is not running or completed, or has no failed row."""
    job = get_job(job_id)
    if job.status not in (BulkStatus.RUNNING, BulkStatus.COMPLETED):
        raise Conflict(f"bulk send {job_id} is {job.status}", field="jobId")
    M = WhatsAppMessage
    rows = list(
        db.session.scalars(
            sa.select(M)
            .where(M.bulk_job_id == job.id, M.status == MessageStatus.FAILED)
            .order_by(M.id)
            .with_for_update()
        )
    )
    if not rows:
        db.session.rollback()
        raise Conflict(f"bulk send {job_id} has no failed message", field="jobId")
    if job.status == BulkStatus.COMPLETED:
        job.status, job.finished_at = BulkStatus.RUNNING, None
    resent = jobs.resend_failed(rows)
    return len(resent), len(rows) - len(resent)
