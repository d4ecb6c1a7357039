"""A new operator's first day through every real process: three freshly linked numbers that
warm up, a 90-row bulk. What the warm-up allows goes out, the rest waits with its reason and
goes out once the limit allows: none fails, none is lost, none is sent twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.helpers import inboxes, link_numbers, phone
from tests.polling import settled, wait_for
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp.extensions import db
from webapp.models import BulkJob, WhatsAppMessage, WhatsAppSession

VOUCHER = {"duration": "30 hari", "expiry_time": "31-12-2026"}
SENT = ("sent", "delivered", "read")
JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.fixture
def quick_polls(monkeypatch):
    """Held messages look again every second, so the test need not wait a minute."""
    monkeypatch.setenv("KABAR_HOLD_POLL", "1")


@pytest.fixture
def processes(quick_polls, kabar_processes):
    return kabar_processes


def by_state(app, job_id: str) -> dict[tuple[str, str | None], int]:
    """How many rows of the bulk job are in each (status group, held reason)."""
    M, B = WhatsAppMessage, BulkJob
    with app.app_context():
        rows = db.session.execute(
            db.select(M.status, M.held_reason, db.func.count())
            .join(B, B.id == M.bulk_job_id)
            .where(B.job_id == job_id)
            .group_by(M.status, M.held_reason)
        ).all()
        db.session.rollback()
    counts: dict[tuple[str, str | None], int] = {}
    for status, held, count in rows:
        key = ("sent" if status in SENT else status, held)
        counts[key] = counts.get(key, 0) + count
    return counts


def held_until(app) -> set[datetime]:
    M = WhatsAppMessage
    with app.app_context():
        found = set(db.session.scalars(db.select(M.held_until).where(M.status == "queued")))
        db.session.rollback()
    return found


def test_a_first_day_bulk_over_the_warm_up_waits_and_goes_out_the_next_day(
    app, client, auth, redis_client, processes
):
    # The whole of each number's day goes to the bulk here; the reserve is tested elsewhere.
    r = client.patch("/api/settings", headers=auth, json={"bulk_reserve_percent": 0})
    assert r.status_code == 200, r.get_json()
    numbers = link_numbers(client, auth, 3, interval_ms=100, warmup=True)
    recipients = [{"whatsapp": phone(n), "data": {"voucher_code": f"V{n}"}} for n in range(90)]
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={"recipients": recipients, "template": "voucher_activated", "templateData": VOUCHER},
    )
    assert r.status_code == 202, r.get_json()
    job_id = r.get_json()["jobId"]
    assert r.get_json()["forecast"]["today"] == 60
    assert r.get_json()["forecast"]["heldReason"] == {"warmup": 30}

    # Day 1 of the warm-up allows 20 sends per number: 60 go, 30 wait for tomorrow.
    expected = {("sent", None): 60, ("queued", "warmup"): 30}
    wait_for(lambda: by_state(app, job_id) == expected, timeout=60)
    assert settled(lambda: by_state(app, job_id), quiet=3.0) == expected
    tomorrow = datetime.now(JAKARTA).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, datetime.min.time(), tzinfo=JAKARTA).astimezone(UTC)
    assert held_until(app) == {midnight}
    received = inboxes(redis_client, range(90))
    assert sorted(len(inbox) for inbox in received.values()) == [0] * 30 + [1] * 60
    shown = client.get(f"/api/whatsapp/bulk/{job_id}", headers=auth).get_json()
    assert shown["counts"]["failed"] == 0

    # The next day: the warm-up's clock moves a day back (day 2 allows 40; 20 were sent).
    with app.app_context():
        S = WhatsAppSession
        db.session.execute(
            db.update(S)
            .where(S.session_id.in_(numbers))
            .values(warmup_started_at=S.warmup_started_at - timedelta(days=1))
        )
        db.session.commit()

    wait_for(lambda: by_state(app, job_id) == {("sent", None): 90}, timeout=60)
    received = inboxes(redis_client, range(90))
    for n, inbox in received.items():
        assert [entry["text"].count(f"V{n}") for entry in inbox] == [1], n
    assert held_until(app) == set()


def message_states(app, ids: list[int]) -> list[tuple[str, str | None]]:
    """(status group, held reason) of each message, read from PostgreSQL (polling the API this
    often would meet its rate limit)."""
    M = WhatsAppMessage
    with app.app_context():
        rows = db.session.execute(db.select(M.status, M.held_reason).where(M.id.in_(ids))).all()
        db.session.rollback()
    states = [("sent" if status in SENT else status, held) for status, held in rows]
    return sorted(states, key=lambda state: (state[0], state[1] or ""))  # None: not held


def test_invoices_single_sends_and_mpwa_go_out_on_a_day_a_bulk_used_its_share(
    app, client, auth, api_key, redis_client, processes
):
    (number,) = link_numbers(client, auth, 1, interval_ms=100, warmup=True)
    # Day 1 allows 20; bulk sends leave 10 % (2) to transactional messages.
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={
            "recipients": [
                {"whatsapp": phone(n), "data": {"voucher_code": f"V{n}"}} for n in range(25)
            ],
            "template": "voucher_activated",
            "templateData": VOUCHER,
        },
    )
    assert r.status_code == 202 and r.get_json()["forecast"]["today"] == 18
    job_id = r.get_json()["jobId"]
    expected = {("sent", None): 18, ("queued", "warmup"): 7}
    wait_for(lambda: by_state(app, job_id) == expected, timeout=60)

    invoice = client.post(
        "/api/events",
        headers=auth,
        json={"event": "invoice.created", "id": "INV-1", "data": {
            "customer_whatsapp": phone(100), "customer_name": "Budi", "invoice_number": "INV-1",
            "amount": "150000", "due_date": "2026-12-10", "payment_url": "https://bayar.example/1",
        }},
    )  # fmt: skip
    assert invoice.status_code == 202, invoice.get_json()
    single = client.post("/api/whatsapp/send", headers=auth, json={"to": phone(101), "text": "Hi"})
    mpwa = client.get(f"/send-message?api_key={api_key}&sender=any&number={phone(102)}&message=Hai")
    assert mpwa.get_json()["status"] is True, mpwa.get_json()
    ids = [invoice.get_json()["messageId"], single.get_json()["id"], mpwa.get_json()["data"]["id"]]

    # The reserve holds two: the invoice and the single send go, the third waits (not fails).
    def states():
        return message_states(app, ids)

    wait_for(lambda: states() == [("queued", "warmup"), ("sent", None), ("sent", None)], timeout=30)
    assert settled(states, quiet=2.0) == [("queued", "warmup"), ("sent", None), ("sent", None)]
    assert by_state(app, job_id) == expected  # the bulk took none of the reserve
    received = inboxes(redis_client, [100, 101, 102])
    assert sorted(len(inbox) for inbox in received.values()) == [0, 1, 1]
    assert all(m["sessionId"] == number for inbox in received.values() for m in inbox)
