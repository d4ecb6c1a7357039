"""Warm-up and the check of numbers before a bulk send, through the services with a real session
host (in-process, simulator numbers), PostgreSQL and Redis. No worker processes: what the
actors would do (fold session events, expand a bulk send, send a message) is called here."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.polling import wait_for
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from tests.session_host.test_session_host import make_host  # noqa: F401 - fixture
from webapp import settings
from webapp.core.errors import KabarError
from webapp.extensions import db
from webapp.intake import bulk, messages, reachability, templates
from webapp.intake.bulk import expansion
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import fold as session_events
from workers.pipeline import routing, sending, sessions, warmup
from workers.queue import keys
from workers.queue import session_events as event_stream
from workers.queue.contracts import EventKind
from workers.session_host.simulated_network import SimulatedNetwork

VOUCHER = {"duration": "30 hari", "expiry_time": "31-12-2026", "voucher_code": "V1"}


def phone(n: int) -> str:
    return f"62812{n:08d}"


@pytest.fixture
def ctx(app):
    with app.app_context():
        routing.forget_sessions()
        yield
        db.session.rollback()
        routing.forget_sessions()


def fold(redis_client) -> list[dict]:
    """Fold what the session host published into PostgreSQL, as the fold actor does; the
    events folded."""
    folded = []
    while batch := event_stream.read_batch(redis_client, "tests"):
        for entry_id, event in batch:
            session_events.apply(event)
            event_stream.ack(redis_client, [entry_id])
            folded.append(event)
    return folded


def delivered(redis_client, message_id: int) -> str:
    """``sending.deliver``; for a message handed to a paced number's ready queue, the status
    of its row once the session host's answer for it is folded."""
    answer = sending.deliver(message_id)
    if answer != "handed":
        return answer

    def answered() -> bool:
        return any(
            int(item["message_id"]) == message_id
            for event in fold(redis_client)
            if event["kind"] == EventKind.SEND_RESULT
            for item in event["results"]
        )

    wait_for(answered)
    db.session.expire_all()
    return db.session.get(WhatsAppMessage, message_id).status


def scanned(session_id: str, number: str) -> bool:
    try:
        sessions.simulator_scan(session_id, number)
    except KabarError:
        return False  # no host holds the session yet
    return True


@pytest.fixture
def link(ctx, redis_client, make_host):  # noqa: F811
    """``link(count)``: that many simulator numbers, linked and connected; their session ids.
    They are added as new numbers (warm-up chosen) unless ``warmup=False``."""
    make_host("h1")

    def linked(count: int, warmup: bool = True) -> list[str]:
        ids = [
            sessions.create_session(f"WA-{n}", n, "simulator", warmup=warmup).session_id
            for n in range(1, count + 1)
        ]
        for n, sid in enumerate(ids, 1):
            wait_for(lambda sid=sid, n=n: scanned(sid, f"6289900000{n:03d}"))

        def connected() -> bool:
            fold(redis_client)
            S = WhatsAppSession
            found = db.session.scalar(db.select(db.func.count()).where(S.status == "connected"))
            db.session.rollback()
            return found == count

        wait_for(connected)
        routing.forget_sessions()
        return ids

    return linked


def mark_not_on_whatsapp(session_id: str, *numbers: str) -> None:
    sessions.host_call(
        session_id, "simulate", action="not_on_whatsapp", params={"phones": list(numbers)}
    )


def submit_bulk(numbers):
    raw = {
        "recipients": [{"whatsapp": number} for number in numbers],
        "template": "voucher_activated",
        "templateData": VOUCHER,
    }
    return bulk.submit(bulk.parse_request(raw))


def locked_elsewhere(bulk_id: int) -> bool:
    """Whether another connection finds the bulk job's row locked."""
    with db.engine.connect() as other:
        try:
            other.execute(
                sa.text("SELECT 1 FROM bulk_jobs WHERE id = :id FOR UPDATE NOWAIT"), {"id": bulk_id}
            )
        except sa.exc.OperationalError:
            return True
        return False


def bulk_rows(job) -> list[str]:
    M = WhatsAppMessage
    return list(db.session.scalars(db.select(M.to_number).where(M.bulk_job_id == job.id)))


# warm-up --------------------------------------------------------------------------------------


def test_a_warming_number_at_its_allowance_is_skipped_and_the_other_number_sends(
    link, redis_client
):
    settings.save({"warmup_schedule": [1, 2]})
    first, second = link(2)
    # Both were added as new numbers; the second one has in fact been in use for years.
    assert routing.warmup_today(sessions.get_session(first))["allowance"] == 1
    warmup.set_warming_up(second, False)
    routing.forget_sessions()

    ids = [
        messages.queue_message(phone(n), text=f"Tagihan {n}", routing="failover").message.id
        for n in (1, 2)
    ]
    assert [delivered(redis_client, message_id) for message_id in ids] == ["sent", "sent"]

    senders = dict(
        db.session.execute(
            db.select(WhatsAppMessage.id, WhatsAppMessage.session_id).order_by(WhatsAppMessage.id)
        ).all()
    )
    assert senders == {ids[0]: first, ids[1]: second}  # the primary had used its one send
    network = SimulatedNetwork(redis_client)
    assert [m["sessionId"] for m in network.inbox(phone(2))] == [second]
    assert routing.warmup_today(sessions.get_session(first)) == {
        "day": 1,
        "allowance": 1,
        "sentToday": 1,
    }


def test_a_batch_never_takes_a_number_past_its_allowance(link, redis_client):
    """An unpaced number takes a bulk batch in one call, but only as many as it has left."""
    settings.save({"warmup_schedule": [3], "bulk_reserve_percent": 0})
    first, second = link(2)
    warmup.set_warming_up(second, False)
    db.session.execute(db.update(WhatsAppSession).values(interval_ms=0, jitter_ms=0))
    db.session.commit()
    routing.forget_sessions()

    ids = messages.queue_texts([(phone(n), f"Info {n}") for n in range(5)], routing="failover")
    outcome = sending.deliver_batch(ids)

    assert outcome.sent == 5 and not outcome.unsent
    M = WhatsAppMessage
    senders = db.session.scalars(db.select(M.session_id).where(M.id.in_(ids))).all()
    assert sorted(senders) == [first] * 3 + [second] * 2
    assert routing.warmup_today(sessions.get_session(first))["sentToday"] == 3


# the check of numbers -----------------------------------------------------------------------


def test_numbers_are_checked_through_a_linked_number_then_answered_from_the_cache(
    link, redis_client
):
    (sid,) = link(1)
    mark_not_on_whatsapp(sid, phone(2))
    network = SimulatedNetwork(redis_client)

    found = reachability.check([phone(1), phone(2), phone(3)])
    assert found == ({phone(1), phone(3)}, {phone(2)}, set())
    assert network.checks() == 1
    assert redis_client.get(keys.on_whatsapp(phone(2))) == b"0"
    assert 6 * 86_400 < redis_client.ttl(keys.on_whatsapp(phone(2))) <= 7 * 86_400

    assert reachability.check([phone(3), phone(2)]) == ({phone(3)}, {phone(2)}, set())
    assert network.checks() == 1  # all cached: no request to WhatsApp

    reachability.check([phone(n) for n in range(1, 121)])
    assert network.checks() == 1 + 3  # 117 new numbers, at most 50 per request


def test_without_a_session_that_can_check_every_number_is_unknown(ctx, redis_client):
    assert reachability.check([phone(1)]) == (set(), set(), {phone(1)})
    # Connected in the database, but no session host holds it.
    sessions.create_session("WA-1", 1, "simulator")
    db.session.execute(db.update(WhatsAppSession).values(status="connected"))
    db.session.commit()
    routing.forget_sessions()
    assert reachability.check([phone(1), phone(2)]) == (set(), set(), {phone(1), phone(2)})
    assert redis_client.get(keys.on_whatsapp(phone(1))) is None  # nothing learnt, nothing kept


# bulk sends -----------------------------------------------------------------------------------


def test_a_bulk_send_reports_numbers_not_on_whatsapp_and_writes_no_message_for_them(
    link, redis_client
):
    (sid,) = link(1)
    mark_not_on_whatsapp(sid, phone(2))
    job = submit_bulk([phone(1), "0812-0000-0002", phone(3)])
    assert bulk.expand(job.id) == 2
    assert sorted(bulk_rows(job)) == [phone(1), phone(3)]

    db.session.refresh(job)
    report = bulk.report(job)
    assert report["invalid"] == 1 and report["expanded"] == 3
    assert report["errors"] == [
        {
            "index": 1,
            "whatsapp": "0812-0000-0002",
            "code": "not_on_whatsapp",
            "field": "recipients.1.whatsapp",
            "message": f"{phone(2)} is not on WhatsApp; not sent",
        }
    ]
    assert SimulatedNetwork(redis_client).checks() == 1


def test_a_bulk_send_goes_to_everyone_when_no_session_can_check(ctx):
    job = submit_bulk([phone(1), phone(2)])
    assert bulk.expand(job.id) == 2
    db.session.refresh(job)
    assert job.invalid_count == 0 and job.errors == []


def test_with_the_check_turned_off_numbers_are_not_asked_about(link, redis_client):
    settings.save({"check_on_whatsapp": False})
    (sid,) = link(1)
    mark_not_on_whatsapp(sid, phone(2))
    job = submit_bulk([phone(1), phone(2)])
    assert bulk.expand(job.id) == 2
    assert SimulatedNetwork(redis_client).checks() == 0


def test_a_batch_moved_meanwhile_is_checked_from_the_cache_alone_under_the_jobs_lock(
    link, redis_client
):
    """Another expansion moved the batch after it was asked about. The job's row is locked: no
    session host is asked (that may take an RPC's timeout, and reading the sessions ends the
    transaction, lock and all). The cache still answers; the rest are sent unchecked."""
    link(1)
    numbers = [phone(1), phone(2), phone(3)]
    job = submit_bulk(numbers)
    plan = expansion._Plan(
        bulk_id=job.id,
        recipients=[{"whatsapp": number} for number in numbers],
        template_data=VOUCHER,
        priority=1,
        routing=None,
        errors=[],
        region="ID",
        limit=4096,
        check_numbers=True,
    )
    plan.ask_whatsapp([{"whatsapp": phone(9)}])  # the batch as it was before it moved
    redis_client.set(keys.on_whatsapp(phone(2)), "0")  # learnt by the other expansion
    network = SimulatedNetwork(redis_client)
    checks_before = network.checks()
    plan.template = templates.get_by_name("voucher_activated")
    expansion._lock(job.id)
    routing.forget_sessions()  # reading the sessions now would roll back

    rows, invalid, _, errors = plan.rows(0, plan.recipients, set())

    assert network.checks() == checks_before
    assert db.session().in_transaction() and locked_elsewhere(job.id)
    assert [row.to_number for row in rows] == [phone(1), phone(3)]
    assert invalid == 1 and [error["code"] for error in errors] == ["not_on_whatsapp"]
