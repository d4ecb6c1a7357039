"""Paced sending through the numbers' ready queues, with a real session host (in-process,
simulator numbers), PostgreSQL and Redis: workers hand messages over, the host's scheduler
sends them at the numbers' slots, and the outcomes come back as folded events."""

from __future__ import annotations

import pytest
import redis

from tests.outage import through
from tests.pipeline.test_deliverability import (  # noqa: F401 - fixtures
    ctx,
    fold,
    link,
    phone,
    submit_bulk,
)
from tests.polling import wait_for
from tests.session_host.test_session_host import make_host  # noqa: F401 - fixture
from webapp import create_app
from webapp.core.phone import Recipient
from webapp.extensions import db
from webapp.intake import bulk, messages
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import routing, sending, sessions
from workers.queue import jobs, keys, ready, signing
from workers.queue.contracts import Band
from workers.session_host.simulated_network import SimulatedNetwork


def paced(interval_ms: int) -> None:
    db.session.execute(db.update(WhatsAppSession).values(interval_ms=interval_ms, jitter_ms=0))
    db.session.commit()
    routing.forget_sessions()


def rows(ids: list[int]) -> dict[int, WhatsAppMessage]:
    db.session.expire_all()
    found = db.session.scalars(db.select(WhatsAppMessage).where(WhatsAppMessage.id.in_(ids)))
    return {row.id: row for row in found}


def all_sent(redis_client, ids: list[int]) -> bool:
    fold(redis_client)
    return all(row.status in ("sent", "delivered", "read") for row in rows(ids).values())


def test_a_paced_number_sends_its_ready_queue_one_slot_apart(link, redis_client):  # noqa: F811
    (sid,) = link(1, warmup=False)
    paced(300)
    ids = messages.queue_texts([(phone(n), f"Info {n}") for n in range(1, 6)], routing="failover")

    outcome = sending.deliver_batch(ids)

    assert outcome.handed == 5 and outcome.later == [] and outcome.sent == 0
    wait_for(lambda: all_sent(redis_client, ids))
    times = sorted(row.sent_at.timestamp() for row in rows(ids).values())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.3, gaps
    assert {row.session_id for row in rows(ids).values()} == {sid}
    network = SimulatedNetwork(redis_client)
    assert all(len(network.inbox(phone(n))) == 1 for n in range(1, 6))
    assert not redis_client.exists(keys.ready_queue(sid), keys.ready_flight(sid))


def test_an_urgent_message_overtakes_the_bulk_waiting_in_the_ready_queue(link, redis_client):  # noqa: F811
    link(1, warmup=False)
    paced(400)
    bulk = messages.queue_texts([(phone(n), f"Info {n}") for n in range(1, 9)], routing="failover")
    assert sending.deliver_batch(bulk).handed == 8
    wait_for(lambda: SimulatedNetwork(redis_client).inbox(phone(1)))
    (urgent,) = messages.queue_texts([(phone(50), "OTP 1234")], band="urgent", routing="failover")

    assert sending.deliver(urgent) == "handed"

    wait_for(lambda: all_sent(redis_client, [*bulk, urgent]), timeout=30)
    found = rows([*bulk, urgent])
    after = [i for i in bulk if found[i].sent_at > found[urgent].sent_at]
    assert len(after) >= 5, after  # it went at the next slot, not behind the bulk


def test_a_number_that_drops_gives_its_whole_queue_back_at_once(link, redis_client):  # noqa: F811
    (sid,) = link(1, warmup=False)
    paced(2_000)
    ids = messages.queue_texts([(phone(n), f"Info {n}") for n in range(1, 6)], routing="failover")
    assert sending.deliver_batch(ids).handed == 5
    wait_for(lambda: all_sent(redis_client, ids[:1]))
    before = {i: row.job_id for i, row in rows(ids).items()}

    sessions.simulator_fault(sid, "disconnect", seconds=60)

    # Within one interval, not one message per interval: every waiting row has a new job
    # (routed again), no attempt spent, nothing left in the number's queue.
    def given_back() -> bool:
        fold(redis_client)
        found = rows(ids[1:])
        return all(row.job_id != before[i] for i, row in found.items()) and found

    found = wait_for(given_back, timeout=2)
    assert all(row.status == "queued" and row.retry_count == 0 for row in found.values())
    assert redis_client.zcard(keys.ready_queue(sid)) == 0
    assert redis_client.exists(keys.error_backoff(sid))  # rested: routing passes it over


def test_a_cancelled_message_leaves_the_ready_queue_unsent(link, redis_client):  # noqa: F811
    (sid,) = link(1, warmup=False)
    paced(500)
    ids = messages.queue_texts([(phone(n), f"Info {n}") for n in range(1, 4)], routing="failover")
    assert sending.deliver_batch(ids).handed == 3

    jobs.cancel(db.session.get(WhatsAppMessage, ids[2]))

    assert ready.whereabouts(redis_client, [ids[2]]) == {}
    wait_for(lambda: all_sent(redis_client, ids[:2]))
    assert redis_client.zcard(keys.ready_queue(sid)) == 0
    assert rows(ids)[ids[2]].status == "cancelled"
    assert SimulatedNetwork(redis_client).inbox(phone(3)) == []


def test_a_message_taken_by_a_host_that_died_is_sent_once_by_the_next(link, redis_client):  # noqa: F811
    """The host took the message (it left the queue) and died before sending it: the number's
    next host puts it back and sends it; one taken and sent before the death is answered as a
    duplicate, never sent twice."""
    (sid,) = link(1, warmup=False)
    paced(300)
    ids = messages.queue_texts([(phone(n), f"Info {n}") for n in range(1, 3)], routing="failover")
    assert sending.deliver_batch(ids).handed == 2
    wait_for(lambda: all_sent(redis_client, ids[:1]))
    # As a host killed between its take and its send leaves them: both in flight, unsettled.
    for message_id in ids:
        entry = redis_client.hget(keys.ready_entries(sid), str(message_id))
        if entry is None:  # the first was taken and sent already: its entry went with it
            entry = sent_entry(message_id)
        redis_client.zrem(keys.ready_queue(sid), str(message_id))
        redis_client.hdel(keys.ready_entries(sid), str(message_id))
        redis_client.hset(keys.ready_flight(sid), str(message_id), b"0|" + entry)

    assert ready.recover(redis_client, sid) == 2
    redis_client.publish(keys.READY_WAKE, ready.wake_message([sid]))

    wait_for(lambda: all_sent(redis_client, ids))
    network = SimulatedNetwork(redis_client)
    assert [len(network.inbox(phone(n))) for n in (1, 2)] == [1, 1]


def sent_entry(message_id: int) -> bytes:
    row = db.session.get(WhatsAppMessage, message_id)
    entry = ready.Entry(
        message={"message_id": row.id, "jid": Recipient(row.to_number).jid, "text": row.content},
        gap_ms=300,
        jitter_ms=0,
        typing_ms=0,
        capped=False,
        marked=False,
        score=0,
    )
    return entry.encode().encode()


def test_a_forged_ready_queue_entry_is_never_sent(link, redis_client):  # noqa: F811
    (sid,) = link(1, warmup=False)
    paced(200)
    forged = '{"message":{"message_id":999,"jid":"6281@s.whatsapp.net","text":"x"},"sig":"00"}'
    redis_client.zadd(keys.ready_queue(sid), {"999": 0})
    redis_client.hset(keys.ready_entries(sid), "999", forged)
    with pytest.raises(signing.BadSignature):
        ready.decode(forged)

    redis_client.publish(keys.READY_WAKE, ready.wake_message([sid]))

    wait_for(lambda: redis_client.zcard(keys.ready_queue(sid)) == 0)
    assert not redis_client.exists(keys.sent_record("999"))


def test_a_send_result_folded_twice_counts_its_message_once(link, redis_client):  # noqa: F811
    """A folder that dies after its commit and before its acknowledgement leaves the event to
    the next folder: the message stays counted once on its number and against its day."""
    (sid,) = link(1, warmup=False)
    paced(200)
    (message_id,) = messages.queue_texts([(phone(1), "Info 1")], routing="failover")
    assert sending.deliver_batch([message_id]).handed == 1
    results = []

    def folded() -> bool:
        results.extend(e for e in fold(redis_client) if e.get("kind") == "send_result")
        return bool(results)

    wait_for(folded)
    count = counted(sid)
    today = routing.sent_today(sid)

    sending.settle_results(results)

    assert counted(sid) == count == 1
    assert routing.sent_today(sid) == today
    assert rows([message_id])[message_id].status == "sent"


def counted(sid: str) -> int:
    db.session.expire_all()
    S = WhatsAppSession
    return db.session.scalar(db.select(S.message_count).where(S.session_id == sid))


def test_a_paused_bulk_leaves_the_ready_queue_unsent(link, redis_client):  # noqa: F811
    (sid,) = link(1, warmup=False)
    paced(60_000)
    job = submit_bulk([phone(n) for n in range(1, 4)])
    bulk.expand(job.id)
    ids = sorted(db.session.scalars(db.select(WhatsAppMessage.id)))
    assert len(ids) == 3 and sending.deliver_batch(ids).handed == 3
    wait_for(lambda: all_sent(redis_client, ids[:1]))  # the first slot; the others wait a minute

    bulk.pause(job.job_id)

    assert ready.whereabouts(redis_client, ids[1:]) == {}
    assert redis_client.zcard(keys.ready_queue(sid)) == 0
    assert [rows(ids)[i].status for i in ids[1:]] == ["paused", "paused"]


def test_a_pause_or_cancel_while_redis_is_unreachable_changes_nothing(app, link, redis_client):  # noqa: F811
    """An entry Redis keeps through its outage would be sent once it is back, by a host that
    never reads PostgreSQL: the pause is refused until Redis answers, not saved half-done."""
    (sid,) = link(1, warmup=False)
    paced(60_000)
    job = submit_bulk([phone(n) for n in range(1, 4)])
    bulk.expand(job.id)
    ids = sorted(db.session.scalars(db.select(WhatsAppMessage.id)))
    assert sending.deliver_batch(ids).handed == 3
    wait_for(lambda: all_sent(redis_client, ids[:1]))
    status = bulk.get_job(job.job_id).status
    proxy, redis_url = through(app.config["REDIS_URL"], 6379)
    cut_off = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": redis_url,
        }
    )
    proxy.cut()
    with cut_off.app_context():
        with pytest.raises(redis.RedisError):
            bulk.pause(job.job_id)
        with pytest.raises(redis.RedisError):
            jobs.cancel(db.session.get(WhatsAppMessage, ids[2]))
        db.engine.dispose()

    assert [rows(ids)[i].status for i in ids[1:]] == ["queued", "queued"]
    db.session.expire_all()
    assert bulk.get_job(job.job_id).status == status
    assert redis_client.zcard(keys.ready_queue(sid)) == 2  # still to be sent, as still queued


def test_rows_paused_while_a_worker_routed_them_leave_the_ready_queue(link, redis_client):  # noqa: F811
    """The worker loaded the rows queued; the pause committed (finding nothing to take out)
    before the worker put them into the queue: the worker takes them out again."""
    (sid,) = link(1, warmup=False)
    paced(60_000)
    job = submit_bulk([phone(n) for n in range(1, 4)])
    bulk.expand(job.id)
    ids = sorted(db.session.scalars(db.select(WhatsAppMessage.id)))
    loaded = sending.load(ids)
    routes = [r for r in routing.routes("spread", None, Band.BULK) if r.session_id == sid]

    bulk.pause(job.job_id)
    sending._queue_paced(routes, loaded, sending.Outcome(), 0)

    assert ready.whereabouts(redis_client, ids) == {}
    assert redis_client.zcard(keys.ready_queue(sid)) == 0
    assert all(SimulatedNetwork(redis_client).inbox(phone(n)) == [] for n in range(1, 4))
