"""WhatsApp's own failures through every real process, as the simulator injects them: a login
that runs out, an account that asks for a passkey, refusals about the recipient, a send whose
answer never came, and a customer's media-only reply."""

from __future__ import annotations

import pytest

from tests.e2e.test_session_lifecycle import Api, api  # noqa: F401 - fixture
from tests.polling import wait_for
from webapp.extensions import db
from webapp.models import IncomingMessage
from workers.pipeline import sending
from workers.session_host.simulated_network import SimulatedNetwork
from workers.session_host.transports.base import PASSKEY_REASON

CUSTOMER = "6281234567890"


@pytest.fixture
def processes(monkeypatch, request, tmp_path):
    monkeypatch.setenv("KABAR_SESSION_STORE", str(tmp_path / "sessions"))
    monkeypatch.setenv("KABAR_SIM_QR_TTL", "2")
    monkeypatch.setenv("KABAR_SIM_LOGIN_TIMEOUT", "7")
    monkeypatch.setenv("KABAR_SIM_DELIVERED_AFTER", "0.1")
    return request.getfixturevalue("kabar_processes")


def send(through: Api, text: str) -> int:
    r = through.post("/send", {"to": CUSTOMER, "text": text})
    assert r.status_code in (200, 201, 202), r.get_json()
    return r.get_json()["id"]


def settled(through: Api, message_id: int, status: str) -> dict:
    return wait_for(
        lambda: (
            (m := through.get(f"/message/{message_id}/status").get_json())["status"] == status and m
        ),
        timeout=30,
    )


def test_an_unscanned_login_expires_and_waits_for_a_new_qr(api, processes):  # noqa: F811
    session_id = api.create("WA-1", 1)
    first = wait_for(lambda: api.qr(session_id))
    wait_for(lambda: (qr := api.qr(session_id)) and qr != first)  # the codes rotate
    expired = api.wait_status(session_id, "qr_expired")
    assert "not scanned in time" in expired["lastError"]
    assert api.qr(session_id) is None
    assert api.post(f"/sessions/{session_id}/simulator/scan").status_code >= 400

    assert api.post(f"/sessions/{session_id}/reconnect").status_code == 200  # "show a new QR"
    wait_for(lambda: api.qr(session_id))
    api.post(f"/sessions/{session_id}/simulator/scan", {"phone": "6289911112222"})
    assert api.wait_status(session_id, "connected")["phoneNumber"] == "6289911112222"


def test_an_account_that_asks_for_a_passkey_fails_with_the_reason(api, processes):  # noqa: F811
    session_id = api.create("WA-1", 1)
    wait_for(lambda: api.qr(session_id))
    api.fault(session_id, "passkey_required")
    api.post(f"/sessions/{session_id}/simulator/scan")
    assert api.wait_status(session_id, "failed")["lastError"] == PASSKEY_REASON


@pytest.mark.parametrize("fault", ["no_lid", "reach_out_479"])
def test_a_refused_recipient_fails_the_message_and_the_number_goes_on(
    api,  # noqa: F811
    processes,
    fault,
):
    session_id = api.link("WA-1", 1)
    api.fault(session_id, fault)
    failed = settled(api, send(api, "Tagihan"), "failed")
    assert failed["error"] and failed["retryCount"] == 0
    session = api.session(session_id)
    assert session["status"] == "connected" and session["errorCount"] == 0

    api.fault(session_id, "clear")
    assert settled(api, send(api, "Tagihan lagi"), "delivered")["sessionId"] == session_id


def test_the_new_contact_limit_holds_the_message_with_its_reason(api, processes):  # noqa: F811
    session_id = api.link("WA-1", 1)
    api.fault(session_id, "reach_out_463")
    message_id = send(api, "Tagihan")
    held = wait_for(
        lambda: (m := api.get(f"/message/{message_id}/status").get_json())["error"] and m,
        timeout=30,
    )
    assert held["status"] == "queued" and "463" in held["error"]
    assert api.session(session_id)["errorCount"] == 0


def test_a_send_that_times_out_after_going_out_is_never_sent_again(
    api,  # noqa: F811
    processes,
    redis_client,
):
    session_id = api.link("WA-1", 1)
    api.fault(session_id, "send_timeout")
    message_id = send(api, "Tagihan")
    failed = settled(api, message_id, "failed")
    assert failed["error"] == sending.SEND_UNCERTAIN_REASON
    network = SimulatedNetwork(redis_client)
    assert [m["text"] for m in network.inbox(CUSTOMER)] == ["Tagihan"]

    api.fault(session_id, "clear")  # a later send goes out once and is delivered
    settled(api, send(api, "Tagihan berikutnya"), "delivered")
    assert [m["text"] for m in network.inbox(CUSTOMER)] == ["Tagihan", "Tagihan berikutnya"]
    assert api.get(f"/message/{message_id}/status").get_json()["status"] == "failed"


def test_a_payment_screenshot_without_words_is_stored_as_an_image(api, processes, app):  # noqa: F811
    session_id = api.link("WA-1", 1)
    with app.app_context():
        db.session.execute(db.text("TRUNCATE contacts, incoming_messages RESTART IDENTITY"))
        db.session.commit()
    r = api.post(
        f"/sessions/{session_id}/simulator/incoming", {"from": CUSTOMER, "mediaType": "image"}
    )
    assert r.status_code == 200, r.get_json()
    bad = api.post(f"/sessions/{session_id}/simulator/incoming", {"from": CUSTOMER})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "text"

    def stored():
        with app.app_context():
            message = db.session.scalar(db.select(IncomingMessage))
            db.session.rollback()
            return message and (message.text, message.media_type)

    assert wait_for(stored) == ("", "image")
