"""Bulk sends and billing events through every real process, to the simulator's phones."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import inboxes, link_numbers, phone
from tests.polling import settled, wait_for
from webapp.extensions import db
from webapp.intake import templates
from webapp.models import WhatsAppMessage

VOUCHER = {"duration": "30 hari", "expiry_time": "31-12-2026"}
SENT = ("sent", "delivered", "read")


def status(client, auth, job_id):
    return client.get(f"/api/whatsapp/bulk/{job_id}", headers=auth).get_json()


def sent_count(report):
    return sum(report["counts"][s] for s in SENT)


def expected_text(app, code):
    with app.app_context():
        return templates.render_message(
            templates.get_by_name("voucher_activated"), VOUCHER | {"voucher_code": code}
        ).text


def test_a_thousand_recipient_bulk_reaches_every_phone_exactly_once(
    app, client, auth, redis_client, kabar_processes
):
    link_numbers(client, auth, 8, interval_ms=100)
    recipients = [{"whatsapp": phone(n), "data": {"voucher_code": f"V{n}"}} for n in range(1000)]
    # Noise that must not reach anyone twice, nor stop the others.
    recipients += [
        {"whatsapp": "+" + phone(5), "data": {"voucher_code": "DOUBLE"}},
        {"whatsapp": "0812", "data": {"voucher_code": "BAD"}},
        {"whatsapp": phone(2000), "data": {}},
    ]
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={"recipients": recipients, "template": "voucher_activated", "templateData": VOUCHER},
    )
    assert r.status_code == 202 and r.get_json()["queued"] == 1003
    job_id = r.get_json()["jobId"]

    done = wait_for(
        lambda: (s := status(client, auth, job_id))["status"] == "completed" and s, timeout=55
    )
    assert sent_count(done) == 1000 and done["counts"]["failed"] == 0
    assert done["duplicates"] == 1 and done["invalid"] == 2 and done["progress"] == 100.0

    received = inboxes(redis_client, range(1000))
    for n, inbox in received.items():
        assert [entry["text"] for entry in inbox] == [expected_text(app, f"V{n}")], n
    assert inboxes(redis_client, [2000])[2000] == []


def test_pause_holds_a_bulk_send_and_cancel_stops_it(
    app, client, auth, redis_client, kabar_processes
):
    link_numbers(client, auth, 2, interval_ms=200)
    count = 150
    recipients = [{"whatsapp": phone(n), "data": {"voucher_code": f"P{n}"}} for n in range(count)]
    job_id = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={"recipients": recipients, "template": "voucher_activated", "templateData": VOUCHER},
    ).get_json()["jobId"]
    base = f"/api/whatsapp/bulk/{job_id}"

    def received():
        return sum(len(inbox) for inbox in inboxes(redis_client, range(count)).values())

    def sent_rows():
        with app.app_context():
            numbers = db.session.scalars(
                db.select(WhatsAppMessage.to_number).where(WhatsAppMessage.sent_at.isnot(None))
            ).all()
            db.session.rollback()
        return set(numbers)

    wait_for(lambda: received() >= 10, timeout=30)
    assert client.post(f"{base}/pause", headers=auth).status_code == 200
    # A send already past its row check may still land; then nothing more does, although
    # 2 numbers at 5 msg/s would send ~10 a second.
    held = settled(received)
    with pytest.raises(AssertionError):
        wait_for(lambda: received() > held, timeout=2.0)
    assert held < count

    assert client.post(f"{base}/resume", headers=auth).status_code == 200
    wait_for(lambda: received() >= held + 10, timeout=30)
    cancelled = client.post(f"{base}/cancel", headers=auth).get_json()
    assert cancelled["status"] == "cancelled"
    final = settled(lambda: (received(), len(sent_rows())))[0]
    assert final < count

    went_out = sent_rows()
    assert len(went_out) == final
    by_phone = inboxes(redis_client, range(count))
    assert all(len(inbox) <= 1 for inbox in by_phone.values())
    assert {phone(n) for n, inbox in by_phone.items() if inbox} == went_out
    report = status(client, auth, job_id)
    assert sent_count(report) == final and report["counts"]["cancelled"] == count - final


def test_a_billing_event_retried_reaches_the_customer_once(
    app, client, auth, redis_client, kabar_processes
):
    link_numbers(client, auth, 1, interval_ms=100)
    data = {"customer_whatsapp": phone(7), "voucher_code": "HS-1"} | VOUCHER
    body = {"event": "voucher.activated", "id": "act-77", "data": data}
    first = client.post("/api/events", headers=auth, json=body).get_json()
    assert client.post("/api/events", headers=auth, json=body).get_json()["duplicate"] is True
    wait_for(lambda: client.get(first["statusUrl"], headers=auth).get_json()["status"] in SENT)
    settled(lambda: len(inboxes(redis_client, [7])[7]), quiet=0.5)  # a second send would land
    (entry,) = inboxes(redis_client, [7])[7]
    assert "🔑 Kode: HS-1" in entry["text"]
