"""One templated message from the API to a simulated phone, through every real process."""

from __future__ import annotations

import base64
from datetime import datetime

from tests.e2e.helpers import link_numbers
from tests.polling import wait_for

VOUCHER = {"voucher_code": "HOTSPOT-7781", "duration": "30 hari", "expiry_time": "25-12-2026"}


def _link_simulator_session(client, auth, device_id="WA-1", priority=1):
    created = client.post(
        "/api/whatsapp/sessions",
        json={"deviceId": device_id, "priority": priority, "transport": "simulator"},
        headers=auth,
    )
    assert created.status_code == 201, created.get_json()
    session_id = created.get_json()["session"]["id"]

    qr = wait_for(
        lambda: (
            (r := client.get(f"/api/whatsapp/sessions/{session_id}/qr", headers=auth)).status_code
            == 200
            and r.get_json()
        )
    )
    assert qr["qr"].startswith("data:image/png;base64,")
    assert base64.b64decode(qr["qr"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert qr["expires"] > 0

    scanned = client.post(f"/api/whatsapp/sessions/{session_id}/simulator/scan", headers=auth)
    assert scanned.status_code == 200, scanned.get_json()

    def connected():
        sessions = client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
        return next(
            (s for s in sessions if s["id"] == session_id and s["status"] == "connected"), None
        )

    return wait_for(connected)


def test_templated_message_reaches_the_phone_and_is_read(client, auth, kabar_processes):
    session = _link_simulator_session(client, auth)
    assert session["isPrimary"] is True
    assert session["phoneNumber"]

    sent = client.post(
        "/api/whatsapp/send",
        json={"to": "0812-3456-7890", "template": "voucher_activated", "data": VOUCHER},
        headers=auth,
    )
    assert sent.status_code == 202, sent.get_json()
    message_id = sent.get_json()["id"]

    def status():
        return client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()

    delivered = wait_for(lambda: (s := status())["status"] in ("delivered", "read") and s)
    assert delivered["sessionId"] == session["id"]
    assert delivered["sentAt"] and delivered["deliveredAt"]
    read = wait_for(lambda: (s := status())["status"] == "read" and s)
    assert read["deliveredAt"] <= read["readAt"]

    inbox = client.get("/api/whatsapp/simulator/inbox/6281234567890", headers=auth).get_json()
    assert len(inbox["messages"]) == 1
    received = inbox["messages"][0]
    assert "🔑 Kode: HOTSPOT-7781" in received["text"]
    assert "⏰ Masa Aktif: 30 hari" in received["text"]
    assert received["sessionId"] == session["id"]
    # Milliseconds, so benchmarks can measure pacing from it.
    assert (
        datetime.fromisoformat(received["receivedAt"].replace("Z", "+00:00")).microsecond % 1000
        == 0
    )
    assert "." in received["receivedAt"]

    listed = client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
    assert listed[0]["messageCount"] == 1 and listed[0]["lastActivity"]


def test_message_waits_for_a_number_with_its_reason_and_goes_when_one_links(
    client, auth, kabar_processes
):
    """No number is a wait, not a failure: no attempt is spent, the status says why, and the
    message goes as soon as a number links."""
    sent = client.post(
        "/api/whatsapp/send", json={"to": "+6281234567891", "text": "Tes"}, headers=auth
    )
    assert sent.status_code == 202
    message_id = sent.get_json()["id"]

    def status():
        return client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()

    waiting = wait_for(lambda: (s := status())["error"] and s, timeout=30)
    assert waiting["status"] == "queued" and waiting["retryCount"] == 0
    assert waiting["error"] == "waiting for a number that can send: no number is connected"
    link_numbers(client, auth, 1)
    wait_for(lambda: status()["status"] in ("sent", "delivered", "read"), timeout=30)
