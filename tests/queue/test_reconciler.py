"""The reconciler queues again, once, what Redis lost or holds without moving, and nothing else.

Redis is changed here as its failures change it: Dramatiq's queue keys deleted, a retry that
never reached Redis, a job a worker took and never finished (as an AOF restore leaves it), and
Kabar's old ``kabar:jobs:live`` list left stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage, WhatsAppQueueJob
from workers.queue import broker, jobs
from workers.queue.contracts import SEND_ACTORS, Band


@pytest.fixture
def ctx(app):
    app.config["RECONCILE_AFTER_S"] = 0
    with app.app_context():
        yield
        db.session.rollback()
    app.config["RECONCILE_AFTER_S"] = 60


def drop_dramatiq_queue(redis_client, queue: str) -> None:
    """What `redis-cli DEL` of a queue's keys (or a Redis that lost them) leaves."""
    for name in (queue, f"{queue}.DQ"):
        redis_client.delete(f"dramatiq:{name}", f"dramatiq:{name}.msgs")


def ledger(message_id: int) -> list[WhatsAppQueueJob]:
    db.session.expire_all()
    return db.session.scalars(
        db.select(WhatsAppQueueJob)
        .where(WhatsAppQueueJob.message_row_id == message_id)
        .order_by(WhatsAppQueueJob.id)
    ).all()


def test_rows_whose_dramatiq_queue_was_deleted_are_queued_again_once(ctx, redis_client):
    kept, lost = messages.queue_texts(
        [("081234567890", "a"), ("081234567891", "b")], band=Band.NORMAL
    )
    (urgent,) = messages.queue_texts([("081234567892", "c")], band=Band.URGENT)
    assert jobs.reconcile() == 0  # every job waits in its queue: nothing to do
    drop_dramatiq_queue(redis_client, Band.NORMAL)

    assert jobs.reconcile() == 2
    for row_id in (kept, lost):
        old, new = ledger(row_id)
        assert (old.status, old.error_message) == ("failed", "lost; queued again")
        assert new.status == "pending"
        assert db.session.get(WhatsAppMessage, row_id).job_id == new.job_id
        assert broker.alive([new.job_id]) == {new.job_id}
    assert jobs.reconcile() == 0  # queued again exactly once
    assert [j.status for j in ledger(urgent)] == ["pending"]


def test_a_stale_jobs_live_list_does_not_hide_a_lost_job(ctx, redis_client):
    """A Redis restored from its AOF may list, in Kabar's old set, jobs Dramatiq acknowledged
    while their retry could not be queued."""
    (row_id,) = messages.queue_texts([("081234567890", "a")], band=Band.NORMAL)
    job_id = db.session.get(WhatsAppMessage, row_id).job_id
    redis_client.sadd("kabar:jobs:live", job_id)
    drop_dramatiq_queue(redis_client, Band.NORMAL)
    assert jobs.reconcile() == 1
    assert db.session.get(WhatsAppMessage, row_id).job_id != job_id


def test_a_lost_bulk_batch_is_queued_again_as_one_batch(ctx, redis_client):
    ids = messages.queue_texts([(f"0812345678{n:02d}", "x") for n in range(3)])
    rows = [db.session.get(WhatsAppMessage, i) for i in ids]
    (old_job,) = {row.job_id for row in rows}  # one job sends the batch
    drop_dramatiq_queue(redis_client, Band.BULK)
    assert jobs.reconcile() == 3
    db.session.expire_all()
    again = {db.session.get(WhatsAppMessage, i).job_id for i in ids}
    assert len(again) == 1 and again != {old_job}
    assert jobs.reconcile() == 0


def test_a_lost_batch_behind_a_long_backlog_is_found(ctx, redis_client):
    ids = messages.queue_texts([(f"0812{n:08d}", "x") for n in range(1_100)])  # 22 batches
    last_job = db.session.get(WhatsAppMessage, ids[-1]).job_id
    for redis_id, data in redis_client.hscan_iter("dramatiq:bulk.msgs"):
        if last_job.encode() in data:
            redis_client.hdel("dramatiq:bulk.msgs", redis_id)  # only the last batch is lost
    assert jobs.reconcile(chunk=20) == 50
    assert jobs.reconcile() == 0


def set_ledger_moved(job_id: str, ago: timedelta) -> None:
    moment = datetime.now(UTC) - ago
    db.session.execute(
        db.update(WhatsAppQueueJob)
        .where(WhatsAppQueueJob.job_id == job_id)
        .values(created_at=moment, scheduled_at=moment, started_at=None)
    )
    db.session.commit()


def test_a_job_taken_by_a_worker_and_never_finished_is_queued_again_when_stuck(ctx, app):
    (row_id,) = messages.queue_texts([("081234567890", "a")], band=Band.NORMAL)
    job_id = db.session.get(WhatsAppMessage, row_id).job_id
    assert broker.broker.do_fetch(Band.NORMAL, 10)  # taken, as a worker takes it, never acked
    assert broker.whereabouts([job_id]) == {job_id: broker.TAKEN}

    set_ledger_moved(job_id, timedelta(seconds=app.config["STUCK_AFTER_S"] - 60))
    assert jobs.reconcile() == 0  # a worker may still be on it
    set_ledger_moved(job_id, timedelta(seconds=app.config["STUCK_AFTER_S"] + 60))
    assert jobs.reconcile() == 1
    assert jobs.reconcile() == 0


def test_a_job_waiting_behind_a_long_backlog_is_left_alone(ctx):
    (row_id,) = messages.queue_texts([("081234567890", "a")], band=Band.NORMAL)
    job_id = db.session.get(WhatsAppMessage, row_id).job_id
    set_ledger_moved(job_id, timedelta(hours=3))
    assert broker.whereabouts([job_id]) == {job_id: broker.WAITING}
    assert jobs.reconcile() == 0


def test_a_job_delayed_long_past_its_time_is_queued_again(ctx):
    """What a worker's delay-queue thread leaves when it restarts after a Redis error: the job it
    had fetched is still in the delay queue, past its time, and no thread will move it."""
    (row_id,) = messages.queue_texts([("081234567890", "a")], band=Band.NORMAL)
    job_id = db.session.get(WhatsAppMessage, row_id).job_id
    broker.broker.flush(Band.NORMAL)
    job = broker.message(SEND_ACTORS[Band.NORMAL], Band.NORMAL, row_id, job_id=job_id)
    broker.enqueue_job(job, delay_ms=-1_000)  # just due: a worker moves it any moment
    assert broker.whereabouts([job_id]) == {job_id: broker.WAITING}
    assert jobs.reconcile() == 0
    broker.broker.flush(Band.NORMAL)
    broker.enqueue_job(job, delay_ms=-broker.DELAY_GRACE_MS - 1_000)
    assert broker.whereabouts([job_id]) == {job_id: broker.STALLED}
    assert jobs.reconcile() == 1
    assert jobs.reconcile() == 0


def test_a_row_whose_enqueue_redis_refused_is_saved_and_queued_later(ctx, monkeypatch):
    def refuse(*_args, **_kwargs):
        import redis

        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(broker.broker, "enqueue", refuse)
    (row_id,) = messages.queue_texts([("081234567890", "a")], band=Band.NORMAL)
    monkeypatch.undo()
    assert db.session.get(WhatsAppMessage, row_id).status == "queued"
    assert jobs.reconcile() == 1
    job_id = db.session.get(WhatsAppMessage, row_id).job_id
    assert broker.alive([job_id]) == {job_id}


def test_young_rows_are_left_alone(app, redis_client):
    with app.app_context():
        messages.queue_texts([("081234567890", "a")])
        drop_dramatiq_queue(redis_client, Band.BULK)
        assert jobs.reconcile() == 0


def test_a_row_waiting_in_a_ready_queue_is_held_until_its_number_has_no_host(ctx, redis_client):
    """A paced row handed to a number's ready queue keeps ``queued`` while its job is done:
    that is not lost while a host holds the number; once none does, it is queued again, and
    out of the ready queue, so it is sent once."""
    from workers.queue import keys, ready

    (row_id,) = messages.queue_texts([("081234567890", "a")], band=Band.NORMAL)
    entry = ready.Entry(
        message={"message_id": row_id, "jid": "6281234567890@s.whatsapp.net", "text": "a"},
        gap_ms=1000,
        jitter_ms=0,
        typing_ms=0,
        capped=False,
        marked=False,
        score=0,
    )
    ready.put(redis_client, {"session-1": [entry]})
    redis_client.set(keys.lease("session-1"), "host-1")
    drop_dramatiq_queue(redis_client, Band.NORMAL)  # its job ran and is gone

    assert jobs.reconcile() == 0
    redis_client.delete(keys.lease("session-1"))  # no host holds the number any more

    assert jobs.reconcile() == 1
    assert redis_client.zcard(keys.ready_queue("session-1")) == 0
    assert ready.whereabouts(redis_client, [row_id]) == {}
    assert jobs.reconcile() == 0
