"""Deliverability through every real process: "typing..." before a message, and bulk sends that
skip numbers without WhatsApp, asking WhatsApp once per number."""

from __future__ import annotations

from datetime import datetime

from tests.e2e.helpers import link_numbers, phone, received_at
from tests.polling import wait_for
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp import settings
from workers.session_host.simulated_network import SimulatedNetwork

VOUCHER = {"duration": "30 hari", "expiry_time": "31-12-2026"}
REACHED = ("sent", "delivered", "read")


def test_typing_is_shown_before_the_message(app, client, auth, redis_client, kabar_processes):
    with app.app_context():
        settings.save({"typing_ms": 200})  # before any process has read the settings
    link_numbers(client, auth, 1, interval_ms=100)
    r = client.post("/api/whatsapp/send", headers=auth, json={"to": phone(1), "text": "Halo"})
    assert r.status_code < 300, r.get_json()

    network = SimulatedNetwork(redis_client)
    (message,) = wait_for(lambda: network.inbox(phone(1)))
    (typing,) = network.presence(phone(1))
    assert typing["state"] == "typing" and typing["sessionId"] == message["sessionId"]
    typing_at = datetime.fromisoformat(typing["at"].replace("Z", "+00:00")).timestamp()
    # The simulator's clock, to the millisecond: the message came after 200 ms of typing.
    assert received_at(message) - typing_at >= 0.199


def bulk_send(client, auth, numbers) -> dict:
    """Send the voucher template to ``numbers``; the report once every message is delivered."""
    recipients = [{"whatsapp": phone(n), "data": {"voucher_code": f"V{n}"}} for n in numbers]
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={"recipients": recipients, "template": "voucher_activated", "templateData": VOUCHER},
    )
    assert r.status_code == 202, r.get_json()
    path = f"/api/whatsapp/bulk/{r.get_json()['jobId']}"

    def delivered():
        report = client.get(path, headers=auth).get_json()
        done = report["status"] == "completed"
        return done and report["counts"]["delivered"] + report["counts"]["read"] == 2 and report

    return wait_for(delivered, timeout=30)


def test_a_bulk_send_skips_numbers_without_whatsapp_and_asks_once_per_number(
    client, auth, redis_client, kabar_processes
):
    link_numbers(client, auth, 1, interval_ms=100)
    r = client.post(
        "/api/whatsapp/simulator/on-whatsapp", headers=auth, json={"phones": [phone(2)]}
    )
    assert r.status_code == 200
    network = SimulatedNetwork(redis_client)

    report = bulk_send(client, auth, [1, 2, 3])
    assert sum(report["counts"][s] for s in REACHED) == 2 and report["counts"]["failed"] == 0
    assert report["invalid"] == 1 and report["progress"] == 100.0
    (refused,) = report["errors"]
    assert (refused["index"], refused["whatsapp"], refused["code"]) == (
        1,
        phone(2),
        "not_on_whatsapp",
    )
    assert network.inbox(phone(2)) == []
    assert [len(network.inbox(phone(n))) for n in (1, 3)] == [1, 1]
    assert network.checks() == 1

    again = bulk_send(client, auth, [3, 2, 1])
    assert [e["index"] for e in again["errors"]] == [1] and network.inbox(phone(2)) == []
    assert network.checks() == 1  # every answer came from the cache
