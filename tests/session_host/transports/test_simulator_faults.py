"""The simulator transport on its own, against the real Redis: rotating QR codes, pairing codes,
and every fault an operator or a test can inject."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import pytest
from PIL import Image

from webapp.core.credentials import CredentialStore, derive_key
from webapp.core.media_types import WHATSAPP_LIMITS, Media
from workers.session_host.simulated_network import SimulatedNetwork, phone_of
from workers.session_host.transports.base import (
    PASSKEY_REASON,
    NotConnected,
    NotOnWhatsApp,
    ReachOutLimited,
    ReachOutRefused,
    SendFailed,
    SendUncertain,
    TransportError,
)
from workers.session_host.transports.media import MediaRejected
from workers.session_host.transports.simulator import SimulatorTransport

KEY = derive_key("simulator test key")
JID = "6281234567890@s.whatsapp.net"


class Events:
    """The ``emit`` callback: records events; tests wait on a condition, never a sleep."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []
        self.cond = threading.Condition()

    def __call__(self, kind: str, **data) -> None:
        with self.cond:
            self.items.append((kind, data))
            self.cond.notify_all()

    def of(self, kind: str) -> list[dict]:
        with self.cond:
            return [data for k, data in self.items if k == kind]

    def statuses(self) -> list[str]:
        return [data["status"] for data in self.of("status")]

    def wait(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (found := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"not seen within {timeout} s; events: {self.items}")
                self.cond.wait(remaining)
            return found

    def wait_status(self, status: str, after: int = 0, timeout: float = 10.0) -> dict:
        """The first ``status`` event with this status among the events from index ``after``."""

        def seen(events):
            with events.cond:
                return next(
                    (d for k, d in events.items[after:] if k == "status" and d["status"] == status),
                    None,
                )

        return self.wait(seen, timeout)

    def mark(self) -> int:
        with self.cond:
            return len(self.items)


@pytest.fixture
def make(redis_client, tmp_path):
    made: list[SimulatorTransport] = []

    def build(session_id="sim-1", **options):
        events = Events()
        opts = {
            "redis": redis_client,
            "delivered_after": 0.05,
            "read_after": 0.1,
            "qr_ttl": 60,
            "backoff_base": 0.05,
            "backoff_cap": 0.2,
            "jitter": 0.0,
            **options,
        }
        store = CredentialStore(tmp_path, session_id, KEY)
        transport = SimulatorTransport(session_id, store, events, opts)
        made.append(transport)
        return transport, events

    yield build
    for transport in made:
        transport.stop()


def linked(make, **options):
    transport, events = make(**options)
    transport.start()
    transport.simulate("scan", {"phone": "6289911110000"})
    events.wait_status("connected")
    return transport, events


def fault(transport, name, **params):
    return transport.simulate("fault", {"fault": name, **params})


# QR codes and pairing ------------------------------------------------------------------------


def test_the_qr_rotates_with_a_fresh_expiry_until_scanned(make):
    transport, events = make(qr_ttl=0.3)
    transport.start()
    qrs = events.wait(lambda e: len(e.of("qr")) >= 3 and e.of("qr"))
    codes = [q["code"] for q in qrs[:3]]
    assert len(set(codes)) == 3
    expiries = [q["expires_at"] for q in qrs[:3]]
    assert expiries == sorted(expiries) and expiries[0] > time.time() - 1
    assert expiries[1] - expiries[0] == pytest.approx(0.3, abs=0.2)

    transport.simulate("scan", {})
    events.wait_status("connected")
    shown = len(events.of("qr"))
    # A receipt due after more than two rotation periods: by then no new QR has been shown.
    transport.delivered_after = 0.7
    transport.send_text(JID, "x", "LATER")
    events.wait(lambda e: e.of("receipt"))
    assert len(events.of("qr")) == shown


def test_a_pairing_code_links_the_number_it_was_asked_for(make):
    transport, events = make()
    transport.start()
    events.wait(lambda e: e.of("qr"))
    code = transport.pair_phone("+62 812-0000-1111")
    assert len(code) == 8 and code.isalnum() and code.isupper()
    result = transport.simulate("scan", {})
    assert result == {"phone": "6281200001111", "status": "connected"}
    assert events.of("paired") == [{"phone": "6281200001111"}]
    with pytest.raises(TransportError) as caught:
        transport.pair_phone("6281200001111")
    assert caught.value.code == "already_paired"


def test_a_pairing_code_needs_a_qr_on_screen(make):
    transport, _ = make()
    with pytest.raises(NotConnected):
        transport.pair_phone("6281200001111")
    transport.start()
    with pytest.raises(TransportError) as caught:
        transport.pair_phone("not a number")
    assert caught.value.code == "bad_request"


def test_an_unscanned_login_rotates_its_codes_then_expires_and_waits(make):
    transport, events = make(qr_ttl=0.1, login_timeout=0.5)
    transport.start()
    expired = events.wait_status("qr_expired")
    assert "not scanned in time" in expired["reason"]
    shown = len(events.of("qr"))
    assert shown >= 3  # the codes rotated until WhatsApp gave up
    with pytest.raises(TransportError) as caught:
        transport.simulate("scan", {})
    assert caught.value.code == "qr_expired"
    assert transport._qr is None  # no code on screen until the operator asks for one

    transport.stop()
    transport.start()  # "show a new QR"
    events.wait(lambda e: len(e.of("qr")) > shown)
    assert transport.simulate("scan", {})["status"] == "connected"


def test_the_qr_timeout_fault_ends_the_login_shown_now(make):
    transport, events = make()
    with pytest.raises(NotConnected):
        fault(transport, "qr_timeout")
    transport.start()
    events.wait(lambda e: e.of("qr"))
    assert fault(transport, "qr_timeout")["status"] == "qr_expired"


def test_a_pairing_code_not_typed_in_time_expires(make):
    transport, events = make(pair_code_ttl=0.2)
    transport.start()
    events.wait(lambda e: e.of("qr"))
    transport.pair_phone("6281200001111")
    expired = events.wait_status("qr_expired")
    assert "pairing code was not typed in time" in expired["reason"]
    with pytest.raises(TransportError):
        transport.simulate("scan", {})
    assert events.of("paired") == []


def test_an_account_that_asks_for_a_passkey_cannot_be_linked_by_qr(make, redis_client):
    transport, events = make()
    transport.start()
    events.wait(lambda e: e.of("qr"))
    fault(transport, "passkey_required")
    assert transport.simulate("scan", {})["status"] == "failed"
    assert events.wait_status("failed")["reason"] == PASSKEY_REASON
    assert events.of("paired") == [] and transport.credentials.load() is None

    transport.stop()
    transport.start()
    events.wait(lambda e: len(e.of("qr")) >= 2)
    transport.pair_phone("6281200001111")  # the pairing code avoids the passkey
    assert transport.simulate("scan", {})["status"] == "connected"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("no_lid", NotOnWhatsApp),
        ("reach_out_463", ReachOutLimited),
        ("reach_out_479", ReachOutRefused),
    ],
)
def test_recipient_faults_fail_sends_as_whatsmeow_does(make, redis_client, name, error):
    transport, _ = linked(make)
    fault(transport, name)
    with pytest.raises(error) as caught:
        transport.send_text(JID, "x", "ID1")
    assert caught.value.code == error.code
    assert SimulatedNetwork(redis_client).inbox("6281234567890") == []
    transport.ping()  # the number itself is fine
    fault(transport, "clear")
    transport.send_text(JID, "x", "ID2")


def test_a_send_to_a_number_without_whatsapp_fails_with_no_lid(make, redis_client):
    transport, _ = linked(make)
    transport.simulate("not_on_whatsapp", {"phones": ["6281234567890"]})
    with pytest.raises(NotOnWhatsApp):
        transport.send_text(JID, "x", "ID1")
    assert SimulatedNetwork(redis_client).inbox("6281234567890") == []


def test_a_send_timeout_delivers_but_raises_uncertain(make, redis_client):
    transport, events = linked(make)
    fault(transport, "send_timeout")
    with pytest.raises(SendUncertain):
        transport.send_text(JID, "Tagihan", "ID1")
    (entry,) = SimulatedNetwork(redis_client).inbox("6281234567890")
    assert (entry["messageId"], entry["text"]) == ("ID1", "Tagihan")
    events.wait(lambda e: [r for r in e.of("receipt") if r["wa_message_id"] == "ID1"])


# send faults ---------------------------------------------------------------------------------


def test_send_errors_at_rate_one_always_fail_and_at_zero_never(make, redis_client):
    transport, events = linked(make)
    fault(transport, "send_errors", rate=1.0)
    assert SimulatedNetwork(redis_client).faults("sim-1") == {"send_errors": {"rate": 1.0}}
    for n in range(5):
        with pytest.raises(SendFailed):
            transport.send_text(JID, "x", f"ID{n}")
    with pytest.raises(SendFailed):
        transport.ping()
    assert SimulatedNetwork(redis_client).inbox("6281234567890") == []

    fault(transport, "send_errors", rate=0)
    for n in range(5):
        transport.send_text(JID, "x", f"OK{n}")
    assert len(SimulatedNetwork(redis_client).inbox("6281234567890")) == 5


def test_a_half_rate_fails_some_sends_and_not_others(make):
    transport, _ = linked(make)
    fault(transport, "send_errors", rate=0.5)
    outcomes = []
    for n in range(200):
        try:
            transport.send_text(JID, "x", f"ID{n}")
            outcomes.append(True)
        except SendFailed:
            outcomes.append(False)
    # Binomial(200, 0.5): outside 50..150 happens with probability below 1e-12.
    assert 50 < outcomes.count(False) < 150


def test_latency_slows_sends_and_pings(make):
    transport, _ = linked(make)
    fault(transport, "latency", ms=300)
    started = time.monotonic()
    transport.send_text(JID, "x", "SLOW1")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    transport.ping()
    assert time.monotonic() - started >= 0.3
    fault(transport, "clear")
    started = time.monotonic()
    transport.ping()
    assert time.monotonic() - started < 0.3


def test_no_receipts_means_no_delivered_or_read(make):
    transport, events = linked(make, read_after=0.05)
    transport.send_text(JID, "x", "WITH")
    events.wait(lambda e: len(e.of("receipt")) == 2)
    fault(transport, "no_receipts")
    transport.send_text(JID, "x", "WITHOUT")
    fault(transport, "clear")
    transport.send_text(JID, "x", "AFTER")
    # Receipts of AFTER arrive; by then WITHOUT's would have arrived too (same delays).
    events.wait(lambda e: len([r for r in e.of("receipt") if r["wa_message_id"] == "AFTER"]) == 2)
    assert [r for r in events.of("receipt") if r["wa_message_id"] == "WITHOUT"] == []


# connection faults ---------------------------------------------------------------------------


def test_disconnect_backs_off_and_reconnects_by_itself(make):
    transport, events = linked(make)
    mark = events.mark()
    fault(transport, "disconnect")
    dropped = events.wait_status("disconnected", after=mark)
    assert dropped["attempt"] == 1 and dropped["retry_in"] == pytest.approx(0.05)
    with pytest.raises(NotConnected):
        transport.send_text(JID, "x", "DURING")
    events.wait_status("connected", after=mark)
    assert events.statuses()[-3:] == ["disconnected", "connecting", "connected"]
    transport.send_text(JID, "x", "AFTER")


def test_an_outage_costs_several_attempts_with_growing_waits(make):
    transport, events = linked(make)
    mark = events.mark()
    fault(transport, "disconnect", seconds=0.5)
    events.wait_status("connected", after=mark)
    drops = [d for d in events.of("status")[-20:] if d["status"] == "disconnected"]
    assert [d["attempt"] for d in drops] == list(range(1, len(drops) + 1))
    assert len(drops) >= 3
    waits = [d["retry_in"] for d in drops]
    assert waits == sorted(waits) and waits[-1] <= 0.2


def test_an_outage_longer_than_every_attempt_ends_failed(make):
    transport, events = linked(make, max_attempts=3)
    fault(transport, "disconnect", seconds=60)
    failed = events.wait_status("failed")
    assert failed["attempt"] == 3
    assert [d["attempt"] for d in events.of("status") if d["status"] == "disconnected"] == [1, 2]


def test_logged_out_deletes_credentials_and_never_reconnects(make, redis_client):
    transport, events = linked(make)
    mark = events.mark()
    result = fault(transport, "logged_out")
    assert result["status"] == "logged_out"
    assert transport.credentials.load() is None
    with pytest.raises(NotConnected):
        transport.send_text(JID, "x", "GONE")
    # A second session cut off for longer than this one's first retry would wait.
    other, other_events = linked(make, session_id="sim-2")
    other_mark = other_events.mark()
    fault(other, "disconnect", seconds=0.3)
    other_events.wait_status("connected", after=other_mark)
    assert events.statuses()[len(events.statuses()) - 1 :] == ["logged_out"]
    assert [k for k, _ in events.items[mark:]] == ["status"]
    # A restart has nothing to resume: it asks for a new scan.
    transport.start()
    events.wait(lambda e: e.of("qr"))


def test_a_ban_reports_reason_and_expiry_and_lifts_by_itself(make, redis_client):
    transport, events = linked(make)
    mark = events.mark()
    before = time.time()
    fault(transport, "ban", seconds=0.4)
    banned = events.wait_status("banned", after=mark)
    assert "banned" in banned["reason"]
    assert before + 0.4 <= banned["expires_at"] <= time.time() + 0.4
    assert "ban" in SimulatedNetwork(redis_client).faults("sim-1")
    with pytest.raises(NotConnected):
        transport.send_text(JID, "x", "BANNED")
    events.wait_status("connected", after=mark)
    assert "ban" not in SimulatedNetwork(redis_client).faults("sim-1")


def test_a_ban_survives_a_restart_and_clear_lifts_it(make):
    transport, events = linked(make)
    fault(transport, "ban")  # the default length: a day
    transport.stop()
    mark = events.mark()
    transport.start()
    assert events.wait_status("banned", after=mark)["expires_at"] > time.time() + 3600
    mark = events.mark()
    result = fault(transport, "clear")
    assert result["faults"] == {}
    events.wait_status("connected", after=mark)


def test_faults_are_validated(make):
    transport, _ = linked(make)
    for params in (
        {"fault": "meteor"},
        {"fault": "send_errors"},
        {"fault": "send_errors", "rate": 1.5},
        {"fault": "send_errors", "rate": "lots"},
        {"fault": "latency", "ms": -1},
        {"fault": "ban", "seconds": 0},
    ):
        with pytest.raises(TransportError) as caught:
            transport.simulate("fault", params)
        assert caught.value.code == "bad_request", params


def test_faults_of_a_session_are_shared_through_redis(make, redis_client):
    transport, _ = linked(make)
    fault(transport, "latency", ms=10)
    fault(transport, "no_receipts")
    # Another process (a session host that took the session over) sees the same network.
    twin, _ = make()
    assert twin.simulate("faults", {})["faults"] == {"latency": {"ms": 10.0}, "no_receipts": {}}
    fault(transport, "clear")
    assert SimulatedNetwork(redis_client).faults("sim-1") == {}


def test_an_incoming_message_is_emitted(make):
    transport, events = linked(make)
    result = transport.simulate(
        "incoming", {"from_phone": "6281234567890", "text": "Halo", "push_name": "Budi"}
    )
    (message,) = events.of("message")
    assert message["wa_message_id"] == result["wa_message_id"]
    assert (message["from_phone"], message["text"], message["push_name"]) == (
        "6281234567890",
        "Halo",
        "Budi",
    )


# media -----------------------------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), "green").save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_arrives_described_by_its_bytes_with_its_caption(make, redis_client):
    transport, _ = linked(make)
    png = _png()
    sha = hashlib.sha256(png).hexdigest()

    transport.send_media(JID, "Struk pembayaran", Media("image", png, "image/png", sha), "IMG1")

    (entry,) = SimulatedNetwork(redis_client).inbox(phone_of(JID))
    assert entry["messageId"] == "IMG1" and entry["text"] == "Struk pembayaran"
    assert entry["media"] == {
        "type": "image",
        "mimetype": "image/png",
        "size": len(png),
        "sha256": sha,
        "fileName": None,
        "caption": "Struk pembayaran",
    }


@pytest.mark.parametrize(
    ("media", "words"),
    [
        (Media("image", b"<html>login</html>", "image/png", "0" * 64), "not a JPEG, PNG or WebP"),
        (
            Media("image", b"\xff\xd8" + b"0" * WHATSAPP_LIMITS["image"], "image/jpeg", "0" * 64),
            "more than the 16 MB WhatsApp takes",
        ),
        (
            Media(
                "document",
                b"%PDF-" + b"0" * WHATSAPP_LIMITS["document"],
                "application/pdf",
                "0" * 64,
            ),
            "more than the 100 MB WhatsApp takes",
        ),
    ],
    ids=["html-as-image", "image-over-16MB", "document-over-100MB"],
)
def test_whatsapp_refuses_what_it_would_refuse_and_nothing_arrives(
    make, redis_client, media, words
):
    transport, _ = linked(make)
    with pytest.raises(MediaRejected) as refused:
        transport.send_media(JID, "x", media, "BAD1")
    assert words in str(refused.value) and refused.value.code == "media_rejected"
    assert SimulatedNetwork(redis_client).inbox(phone_of(JID)) == []
