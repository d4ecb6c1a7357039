"""Operations through every real process: signed webhooks with retries, opt-out, quiet hours and
the e-mail fallback over real SMTP. Receivers (HTTP, SMTP) run in this test process."""

from __future__ import annotations

import hashlib
import hmac
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.helpers import (
    customer_writes,
    inboxes,
    link_numbers,
    opted_out,
    phone,
    queue_bulk,
    statuses,
)
from tests.polling import wait_for
from tests.receivers import smtp_inbox, webhook_receiver
from webapp.extensions import db
from webapp.models import Contact, WhatsAppMessage

DONE = ("sent", "delivered", "read")
BIN = Path(sys.executable).parent
REMINDER = {
    "customer_name": "Budi",
    "invoice_number": "INV-7",
    "amount": "150.000",
    "due_date": "12-12-2026",
    "payment_url": "https://bayar.example/INV-7",
}
VOUCHER = {"voucher_code": "HS-1", "duration": "30 hari", "expiry_time": "25-12-2026"}


def signed_by(secret: str, delivery) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(delivery.headers.get("x-kabar-signature", ""), expected)


def status(client, auth, message_id) -> dict:
    return client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()


def when(iso_time: str) -> datetime:
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00"))


def send(client, auth, **body) -> int:
    response = client.post("/api/whatsapp/send", headers=auth, json=body)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


# webhooks -----------------------------------------------------------------------------------


def test_a_message_status_webhook_gets_every_step_signed(
    client, auth, kabar_processes, private_webhooks
):
    with webhook_receiver() as receiver:
        created = client.post(
            "/api/whatsapp/webhooks",
            headers=auth,
            json={"url": receiver.url, "events": ["message.status"]},
        ).get_json()
        link_numbers(client, auth, 1, interval_ms=200)
        message_id = send(client, auth, to="0812-3456-7890", text="Halo Budi")

        def steps():
            return {d.json()["data"]["status"] for d in receiver.received("message.status")}

        wait_for(lambda: steps() >= {"sent", "delivered", "read"}, timeout=30)
        deliveries = receiver.received()

    assert all(signed_by(created["secret"], d) for d in deliveries)
    assert not any(signed_by("another secret", d) for d in deliveries)
    for delivery in deliveries:
        payload = delivery.json()
        assert payload["event"] == "message.status"
        assert payload["data"]["id"] == message_id
        assert payload["data"]["to"] == "6281234567890"
        assert delivery.headers["x-kabar-delivery"] == payload["deliveryId"]
    read = next(d.json()["data"] for d in deliveries if d.json()["data"]["status"] == "read")
    assert read["readAt"] and read["deliveredAt"] and read["sentAt"]

    webhook_id = created["webhook"]["id"]
    shown = wait_for(
        lambda: (
            (
                w := client.get(f"/api/whatsapp/webhooks/{webhook_id}", headers=auth).get_json()[
                    "webhook"
                ]
            )["deliveries"]
            >= 3
            and w
        )
    )
    assert shown["lastDelivery"]["ok"] is True and shown["lastDelivery"]["statusCode"] == 200


def test_a_failing_receiver_gets_the_same_signed_delivery_again(
    client, auth, kabar_processes, private_webhooks
):
    with webhook_receiver(script=[500]) as receiver:
        created = client.post(
            "/api/whatsapp/webhooks",
            headers=auth,
            json={"url": receiver.url, "events": ["message.incoming"]},
        ).get_json()
        (session,) = link_numbers(client, auth, 1)
        incoming = client.post(
            f"/api/whatsapp/sessions/{session}/simulator/incoming",
            headers=auth,
            json={"from": "0812-1111-2222", "text": "Sudah transfer ya", "pushName": "Sari"},
        )
        assert incoming.status_code == 200, incoming.get_json()
        first, second = wait_for(lambda: len(receiver.received()) >= 2 and receiver.received())

    assert (first.answered, second.answered) == (500, 200)
    assert first.body == second.body  # a retry re-sends the very same signed body
    assert signed_by(created["secret"], first) and signed_by(created["secret"], second)
    payload = second.json()
    assert payload["event"] == "message.incoming"
    assert payload["data"]["from"] == "6281211112222"
    assert payload["data"]["text"] == "Sudah transfer ya"
    assert payload["data"]["sessionId"] == session and payload["data"]["pushName"] == "Sari"

    webhook_id = created["webhook"]["id"]
    shown = wait_for(
        lambda: (
            (
                w := client.get(f"/api/whatsapp/webhooks/{webhook_id}", headers=auth).get_json()[
                    "webhook"
                ]
            )["deliveries"]
            == 1
            and w
        )
    )
    assert shown["failures"] == 1
    assert shown["lastDelivery"]["statusCode"] == 200 and shown["lastDelivery"]["error"] is None
    assert shown["lastDelivery"]["event"] == "message.incoming"


# opt-out ------------------------------------------------------------------------------------


def test_an_opted_out_customer_is_skipped_by_a_bulk_send(
    app, client, auth, redis_client, kabar_processes
):
    (session,) = link_numbers(client, auth, 1, interval_ms=200)
    customer_writes(client, auth, session, phone(1), "  berhenti ")
    wait_for(lambda: opted_out(app, phone(1)))
    ids = queue_bulk(app, 3)  # phones 0, 1 and 2
    final = wait_for(
        lambda: (s := statuses(app, ids)) and all(v != "queued" for v in s.values()) and s,
        timeout=30,
    )
    assert final[ids[1]] == "skipped"
    assert final[ids[0]] in DONE and final[ids[2]] in DONE
    assert status(client, auth, ids[1])["error"] == "recipient opted out"

    # A notification still reaches the customer who opted out of announcements.
    notice = send(client, auth, to=phone(1), text="Tagihan Anda sudah terbit")
    wait_for(lambda: status(client, auth, notice)["status"] in DONE)
    received = inboxes(redis_client, [0, 1, 2])
    assert [m["text"] for m in received[1]] == ["Tagihan Anda sudah terbit"]
    assert len(received[0]) == 1 and len(received[2]) == 1


# quiet hours --------------------------------------------------------------------------------


def restart_workers(procs, **env):
    """The workers again, as the kabar_processes fixture starts them, with ``env`` added."""
    for name in ("worker", "worker-urgent"):
        procs.stop(name)
    procs.start_workers(**env)


def test_quiet_hours_hold_a_reminder_and_release_it_after(client, auth, kabar_processes):
    link_numbers(client, auth, 1, interval_ms=200)
    jakarta = datetime.now(ZoneInfo("Asia/Jakarta"))
    ends = (jakarta + timedelta(seconds=20)).replace(microsecond=0)  # the spec has seconds
    window = f"{jakarta - timedelta(hours=1):%H:%M:%S}-{ends:%H:%M:%S}"
    restart_workers(kabar_processes, KABAR_QUIET_HOURS=window, KABAR_TIMEZONE="Asia/Jakarta")
    ends_utc = ends.astimezone(UTC)

    # A plain text in the normal band goes at once: the workers are up and it is not held.
    plain = send(client, auth, to="0812-3456-7890", text="Info gangguan", priority=5)
    wait_for(lambda: status(client, auth, plain)["status"] in DONE, timeout=15)
    reminder = send(
        client, auth, to="0812-3456-7890", template="payment_reminder", data=REMINDER, priority=5
    )
    notification = send(
        client, auth, to="0812-3456-7891", template="voucher_activated", data=VOUCHER
    )
    sent = wait_for(lambda: (s := status(client, auth, notification))["status"] in DONE and s)
    assert when(sent["sentAt"]) < ends_utc, "the workers started too late for this test"

    # Until the quiet period ends the reminder waits in the queue (checked every 0.2 s).
    while datetime.now(UTC) < ends_utc - timedelta(seconds=1):
        assert status(client, auth, reminder)["status"] == "queued"
        time.sleep(0.2)

    released = wait_for(
        lambda: (s := status(client, auth, reminder))["status"] in DONE and s, timeout=30
    )
    assert when(released["sentAt"]) >= ends_utc
    assert released["retryCount"] == 0  # waiting is not an attempt


# e-mail fallback ----------------------------------------------------------------------------


@pytest.fixture
def fallback_inbox(request, monkeypatch):
    """An SMTP server, and the Kabar processes started with the fallback pointing at it."""
    with smtp_inbox() as inbox:
        for name, value in {
            "ENABLE_EMAIL_FALLBACK": "1",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(inbox.port),
            "SMTP_STARTTLS": "0",
            "SMTP_FROM": "noreply@isp.example",
            # No number is linked: without a limit on waiting for one, the message would wait.
            "KABAR_WAIT_FOR_NUMBER": "0",
        }.items():
            monkeypatch.setenv(name, value)
        request.getfixturevalue("kabar_processes")
        yield inbox


def test_a_message_no_number_could_send_is_emailed(app, client, auth, fallback_inbox):
    with app.app_context():
        db.session.add(Contact(phone="6281234567890", email="budi@example.com"))
        db.session.commit()
    message_id = send(client, auth, to="0812-3456-7890", text="Tagihan <INV-7>\nRp150.000")

    (mail,) = wait_for(lambda: fallback_inbox.mails, timeout=90)
    assert mail.recipients == ["budi@example.com"]
    assert mail.message["Subject"] == "[Cadangan WhatsApp] Tagihan <INV-7>"
    assert "Tagihan &lt;INV-7&gt;<br>Rp150.000" in mail.part("html")
    assert status(client, auth, message_id)["status"] == "failed"

    def recorded():
        with app.app_context():
            row = db.session.get(WhatsAppMessage, message_id)
            db.session.rollback()
            return row.fallback_result == "sent" and row

    row = wait_for(recorded)
    assert row.fallback_method == "email" and row.fallback_at is not None
