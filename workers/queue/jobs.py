"""The job ledger (the seed's whatsapp_queue_jobs) and the reconciler that trusts it.

A job row is written with its message row, in the same transaction, before the job reaches
Redis; the worker middleware then records each attempt. If Redis loses its data, the ledger and
the message rows still say what must be sent, and ``reconcile`` queues it again.
"""

from __future__ import annotations

import logging
import weakref
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from dramatiq.message import generate_unique_id
from flask import current_app

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppQueueJob
from webapp.redis_client import get_redis
from workers.queue import broker, keys, ready
from workers.queue.contracts import SEND_ACTORS, Band, JobStatus, MessageStatus

log = logging.getLogger(__name__)


# Bulk rows go to the worker in batches: one job, one ledger row and one round trip to the
# session host for up to this many rows, instead of one of each per row.
BATCH_SIZE = 50


def new_job(message: WhatsAppMessage, max_attempts: int):
    """Build the Dramatiq message for ``message`` and add its ledger row to the session."""
    job = broker.message(SEND_ACTORS[message.band], message.band, message.id)
    message.job_id = job.message_id
    db.session.add(_ledger_row(job, message.band, message.priority, max_attempts, [message.id]))
    return job


def new_jobs(messages: list[WhatsAppMessage], max_attempts: int) -> list:
    """The jobs that send ``messages``: bulk ones by batches, others one each.

    Give it rows not yet inserted: each row's job id is set before the insert (which this
    flushes), so no row is written twice.
    """
    single = [[message] for message in messages if message.band != Band.BULK]
    bulk = [message for message in messages if message.band == Band.BULK]
    batches = single + [bulk[i : i + BATCH_SIZE] for i in range(0, len(bulk), BATCH_SIZE)]
    job_ids = [generate_unique_id() for _ in batches]
    for job_id, batch in zip(job_ids, batches, strict=True):
        for message in batch:
            message.job_id = job_id
    if any(message.id is None for message in messages):
        db.session.flush()
    queued = []
    for job_id, batch in zip(job_ids, batches, strict=True):
        band, ids = batch[0].band, [message.id for message in batch]
        args = ids if band == Band.BULK else ids[0]
        job = broker.message(SEND_ACTORS[band], band, args, job_id=job_id)
        priority = min(message.priority for message in batch)
        db.session.add(_ledger_row(job, band, priority, max_attempts, ids))
        queued.append(job)
    return queued


def give_back(message_ids: list[int], delay_ms: int, max_attempts: int = 3) -> None:
    """Queue the still-queued rows among ``message_ids`` in new jobs after ``delay_ms``: rows
    that had to wait (quiet hours, a far slot) leave a job that retries the others, so they
    neither spend its attempts nor fail with it."""
    M = WhatsAppMessage
    rows = list(
        db.session.scalars(
            sa.select(M).where(M.id.in_(message_ids), M.status == MessageStatus.QUEUED)
        )
    )
    queued = new_jobs(rows, max_attempts)
    db.session.commit()
    for job in queued:
        broker.enqueue_job(job, delay_ms=delay_ms)


def _ledger_row(job, band: str, priority: int, max_attempts: int, ids: list[int]):
    return WhatsAppQueueJob(
        job_id=job.message_id,
        queue_name=band,
        job_data={"message_id": ids[0]} if len(ids) == 1 else {"message_ids": ids},
        priority=priority,
        max_attempts=max_attempts,
        status=JobStatus.PENDING,
        scheduled_at=datetime.now(UTC),
        # The seed's one-row-per-message link; a batch's rows are in job_data.
        message_row_id=ids[0] if len(ids) == 1 else None,
    )


def _update(job_id: str, **values) -> None:
    db.session.execute(
        sa.update(WhatsAppQueueJob).where(WhatsAppQueueJob.job_id == job_id).values(**values)
    )
    db.session.commit()


def started(job_id: str, attempt: int) -> None:
    _update(job_id, status=JobStatus.STARTED, started_at=datetime.now(UTC), attempts=attempt)


def completed(job_id: str) -> None:
    _update(job_id, status=JobStatus.COMPLETED, completed_at=datetime.now(UTC), error_message=None)


def given_back(job_id: str) -> None:
    """The job went back to the queue to wait for a free slot (not an attempt)."""
    _update(job_id, status=JobStatus.PENDING, scheduled_at=datetime.now(UTC))


def retrying(job_id: str, error: str) -> None:
    # scheduled_at: when the job was last moved on, which the reconciler reads.
    _update(
        job_id,
        status=JobStatus.RETRYING,
        scheduled_at=datetime.now(UTC),
        error_message=error[:2000],
    )


def failed(job_id: str, error: str) -> None:
    _update(
        job_id, status=JobStatus.FAILED, failed_at=datetime.now(UTC), error_message=error[:2000]
    )


def reconcile(chunk: int = 1000) -> int:
    """Queue again, once, every queued row whose job Redis no longer holds, or holds without
    moving it; return how many rows were queued again.

    Redis is asked through Dramatiq's own keys (``broker.whereabouts``), never through a list of
    Kabar's, which a Redis restored from its AOF may still show stale. A job waiting in a queue
    is left alone however long its backlog; a job delayed long past its time is stalled; a job
    taken by a worker is stuck once its ledger row has not moved for STUCK_AFTER_S, longer than
    any legal run.
    Only jobs written more than RECONCILE_AFTER_S ago are looked at, so a job between its commit
    and its enqueue is never taken for a lost one. Every queued row is looked at, not only the
    oldest ones (a lost batch may sit behind a long backlog); they are queued again ``chunk``
    rows per transaction. A row's old job that turns up later finds the row owned by the new one
    and leaves it; the session host's sent records still guard against a second send.
    """
    now = datetime.now(UTC)
    config = current_app.config
    horizon = now - timedelta(seconds=config["RECONCILE_AFTER_S"])
    stuck_since = now - timedelta(seconds=config["STUCK_AFTER_S"])
    M, J = WhatsAppMessage, WhatsAppQueueJob
    rows = db.session.execute(
        sa.select(
            M.id,
            M.job_id,
            J.id.label("ledger_id"),
            J.status,
            J.created_at,
            J.scheduled_at,
            J.started_at,
            J.failed_at,
        )
        .outerjoin(J, J.job_id == M.job_id)
        .where(
            M.status == MessageStatus.QUEUED, sa.func.coalesce(J.created_at, M.created_at) < horizon
        )
        .order_by(M.id)
    ).all()
    db.session.rollback()  # no transaction held open while Redis is read
    if not rows:
        return 0
    found = broker.whereabouts({row.job_id for row in rows if row.job_id})
    candidates = [row for row in rows if _lost(found.get(row.job_id), row, stuck_since)]
    # A second look at the absent ones: a job moving between a queue and its delay queue while
    # the first look read the other one is not lost.
    found |= broker.whereabouts({row.job_id for row in candidates if row.job_id not in found})
    lost = [row for row in candidates if _lost(found.get(row.job_id), row, stuck_since)]
    # A row handed to a ready queue of a number some host holds waits there, its job done.
    waiting = ready.whereabouts(get_redis(), [row.id for row in lost])
    lost = [row for row in lost if row.id not in waiting]
    requeued = sum(_requeue(lost[i : i + chunk], now) for i in range(0, len(lost), chunk))
    if requeued:
        log.warning("re-queued %d message(s) whose job was lost or stuck", requeued)
    return requeued


def _requeue(lost: list, now: datetime) -> int:
    """Give the rows judged lost new jobs, unless a worker moved them meanwhile (sent them, or
    gave them another job)."""
    M = WhatsAppMessage
    judged = {row.id: row.job_id for row in lost}
    rows = [
        row
        for row in db.session.scalars(
            sa.select(M).where(M.id.in_(judged), M.status == MessageStatus.QUEUED).with_for_update()
        )
        if row.job_id == judged[row.id]
    ]
    # Out of any ready queue it may still sit in (of a number nobody holds): sent once, by
    # its new job.
    ready.remove(get_redis(), [row.id for row in rows])
    lost_jobs = list({row.job_id for row in rows if row.job_id})
    if lost_jobs:
        db.session.execute(
            sa.update(WhatsAppQueueJob)
            .where(WhatsAppQueueJob.job_id.in_(lost_jobs))
            .values(status=JobStatus.FAILED, failed_at=now, error_message="lost; queued again")
        )
    queued = new_jobs(rows, max_attempts=3)
    db.session.commit()
    enqueue_committed(queued)
    return len(rows)


def _lost(where: str | None, row: sa.Row, stuck_since: datetime) -> bool:
    """Whether a queued row whose job Redis holds ``where`` (None: not at all) needs a new job;
    ``row`` carries the job's ledger columns (``ledger_id`` None: no ledger row)."""
    if where == broker.WAITING:
        return False
    if where == broker.STALLED:
        return True
    if row.ledger_id is None or where is None:
        # An exhausted job's own "failed" marks its rows failed right after; leave it that time.
        exhausted = row.status == JobStatus.FAILED and _aware(row.failed_at) >= stuck_since
        return row.ledger_id is None or not exhausted
    moved = max(_aware(t) for t in (row.created_at, row.scheduled_at, row.started_at) if t)
    return moved < stuck_since


def _aware(moment: datetime | None) -> datetime:
    """SQLite hands times back without their zone; they were written in UTC."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def enqueue_committed(queued: list) -> None:
    """Enqueue jobs whose rows are committed. When Redis refuses, the rows stay queued and the
    reconciler queues them again within RECONCILE_AFTER_S: the caller has saved them and
    answers their ids, never an error."""
    try:
        for job in queued:
            broker.enqueue_job(job)
    except redis.RedisError as exc:
        log.warning(
            "Redis refused %d job(s) (%s); the reconciler will queue them", len(queued), exc
        )


def resend(message: WhatsAppMessage) -> None:
    """Queue a failed message again (a new job; the session host still sends it only once).

    Refused (the message stays failed) while a live session host holds the message's send.
    """
    from webapp.core.errors import Conflict

    if message.status != MessageStatus.FAILED:
        raise Conflict(f"message {message.id} is {message.status}, not failed", field="id")
    if not resend_failed([message]):
        raise Conflict(
            f"message {message.id} is still being sent by a live session host; try again shortly",
            field="id",
        )


def resend_failed(rows: list[WhatsAppMessage]) -> list[WhatsAppMessage]:
    """Queue the failed ones among ``rows`` again, in new jobs, and return those queued.

    A row a live session host still holds the send of stays failed (it may still go out).
    Lock the rows (``SELECT ... FOR UPDATE``) when reading them, so two requests at once queue
    each row once.
    """
    ready = [m for m in rows if m.status == MessageStatus.FAILED and _forget_unfinished_send(m.id)]
    for message in ready:
        message.status = MessageStatus.QUEUED
        message.retry_count = 0
        message.error_message = None
        message.waiting_since = None  # a new outage's wait counts from now, not the last one's
        # The operator decided it did not go out: it is no longer handed over.
        message.handed_at = message.handed_redis = None
    queued = new_jobs(ready, max_attempts=3)
    db.session.commit()
    enqueue_committed(queued)
    return ready


# KEYS[1] the message's sent record, ARGV[1] the heartbeat key of a session host less its id.
# One script, so a record written between the read and the delete is never erased.
_FORGET_CLAIM = """
local record = redis.call('GET', KEYS[1])
if not record then return 1 end
local claim = cjson.decode(record)
if claim.state ~= 'sending' then return 1 end
if claim.host and redis.call('EXISTS', ARGV[1] .. claim.host) == 1 then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
_forget_claim_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forget_unfinished_send(message_id: int) -> bool:
    """Before the operator's resend: drop the message's send claim if the session host that took
    it is gone (it stopped mid-send), so the message is sent again; False, keeping the claim,
    while that host is alive (it may still be sending). A finished send's record always stays,
    so a message that did go out is never sent twice."""
    client = get_redis()
    return bool(
        _forget_claim_script(client)(keys=[keys.sent_record(message_id)], args=[keys.host("")])
    )


def _forget_claim_script(client: redis.Redis):
    """The script, registered once per Redis client."""
    script = _forget_claim_scripts.get(client)
    if script is None:
        script = _forget_claim_scripts[client] = client.register_script(_FORGET_CLAIM)
    return script


def cancel(message: WhatsAppMessage) -> None:
    """Stop a queued message from being sent; its job finds it cancelled and does nothing."""
    from webapp.core.errors import Conflict

    if message.status != MessageStatus.QUEUED:
        raise Conflict(f"message {message.id} is {message.status}, not queued", field="id")
    message.status = MessageStatus.CANCELLED
    message.held_reason = message.held_until = None
    stop_sending([message.id])


def stop_sending(message_ids: list[int], batch: int = 1000) -> None:
    """Commit the caller's change of these rows out of ``queued`` (paused, cancelled) and take
    them out of the paced numbers' ready queues, where a session host, which never reads
    PostgreSQL, would still send them.

    Redis is asked before the commit: unreachable, nothing is saved (rolled back, the
    ``RedisError`` raised: the operator sees Redis is down and tries again), since an entry
    Redis kept through its outage would be sent once it is back. It is asked again after the
    commit for what a worker was putting there meanwhile (``ready.put`` looks at the rows
    between writing their entries and putting them in line: one of the two finds them)."""
    client = get_redis()
    try:
        for i in range(0, len(message_ids), batch):
            ready.remove(client, message_ids[i : i + batch], strict=True)
    except redis.RedisError:
        db.session.rollback()
        raise
    db.session.commit()
    for i in range(0, len(message_ids), batch):
        ready.remove(client, message_ids[i : i + batch])
