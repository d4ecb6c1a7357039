"""The neonize transport: event mapping on real neonize protobufs, the connect loop on a real
(offline) neonize client, and the session life cycle on a stand-in client that behaves like
neonize's (connect() blocks until stop(), handlers are called from inside it).

WhatsApp is unreachable from the test machines, so a real client's connect() fails at once; the
tests that need a live connection drive the stand-in's handlers with real neonize events.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from neonize.events import (
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.exc import SendMessageError
from neonize.proto.Neonize_pb2 import (
    JID,
    ConnectFailureReason,
    MessageInfo,
    MessageSource,
    PairStatus,
    Receipt,
    SendResponse,
    TemporaryBan,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.enum import ClientName, ClientType
from neonize.utils.jid import build_jid

from workers.credentials import CredentialStore
from workers.transports.base import NotConnected, SendFailed, SendResult, TransportError
from workers.transports.neonize import (
    ConnectionLoss,
    NeonizeTransport,
    backoff_delay,
    epoch_seconds,
    map_connection_loss,
    map_login_status,
    map_message,
    map_pair_status,
    map_qr,
    map_receipt,
    snapshot_store,
)

SESSION = "sess-1"
OUR_PHONE = "6281234567890"
THEIR_PHONE = "6289876543210"


def user_jid(phone: str, device: int = 0) -> JID:
    return JID(User=phone, Server="s.whatsapp.net", Device=device, IsEmpty=False)


# ---------------------------------------------------------------------------------------------
# back-off
# ---------------------------------------------------------------------------------------------


def test_backoff_doubles_from_base_and_stops_at_cap():
    delays = [backoff_delay(n, 2.0, 60.0, 1.0, rand=lambda: 0.0) for n in range(1, 9)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert backoff_delay(10_000, 2.0, 60.0, 0.0) == 60.0  # no overflow on absurd attempts


def test_backoff_jitter_adds_at_most_jitter_seconds():
    assert backoff_delay(1, 2.0, 60.0, 1.5, rand=lambda: 1.0) == 3.5
    samples = [backoff_delay(3, 2.0, 60.0, 1.0) for _ in range(500)]
    assert all(8.0 <= s <= 9.0 for s in samples)
    assert len(set(samples)) > 1  # the default really is random


# ---------------------------------------------------------------------------------------------
# mapping real neonize events
# ---------------------------------------------------------------------------------------------


def receipt(kind: int, ids: list[str], from_me: bool = False, ts: int = 1_700_000_123) -> Receipt:
    return ReceiptEv(
        MessageSource=MessageSource(
            Chat=user_jid(THEIR_PHONE), Sender=user_jid(THEIR_PHONE), IsFromMe=from_me
        ),
        MessageIDs=ids,
        Timestamp=ts,
        Type=kind,
    )


def test_delivered_receipt_gives_one_event_per_message_id():
    events = map_receipt(receipt(Receipt.DELIVERED, ["3EB0AA", "3EB0BB", "3EB0CC"]))
    assert events == [
        ("receipt", {"wa_message_id": mid, "status": "delivered", "at": 1_700_000_123.0})
        for mid in ["3EB0AA", "3EB0BB", "3EB0CC"]
    ]


def test_read_and_played_receipts_are_read():
    assert [d["status"] for _, d in map_receipt(receipt(Receipt.READ, ["A", "B"]))] == [
        "read",
        "read",
    ]
    assert map_receipt(receipt(Receipt.PLAYED, ["C"]))[0][1]["status"] == "read"


@pytest.mark.parametrize(
    "kind", [Receipt.READ_SELF, Receipt.PLAYED_SELF, Receipt.SENDER, Receipt.RETRY]
)
def test_receipts_about_our_own_reading_or_protocol_are_ignored(kind):
    assert map_receipt(receipt(kind, ["A"])) == []


def test_receipt_from_our_own_phone_or_without_type_is_ignored():
    assert map_receipt(receipt(Receipt.READ, ["A"], from_me=True)) == []
    untyped = ReceiptEv(MessageSource=MessageSource(Chat=user_jid(THEIR_PHONE)), MessageIDs=["A"])
    assert map_receipt(untyped) == []


def incoming(text: str = "", from_me: bool = False, **source) -> MessageEv:
    fields = {"Chat": user_jid(THEIR_PHONE), "Sender": user_jid(THEIR_PHONE), **source}
    return MessageEv(
        Info=MessageInfo(
            MessageSource=MessageSource(IsFromMe=from_me, **fields),
            ID="3EB0INCOMING",
            Timestamp=1_700_000_456_789,  # neonize gives message times in milliseconds
        ),
        Message=WAMessage(conversation=text) if text else WAMessage(),
    )


def test_incoming_text_message():
    assert map_message(incoming("Sudah bayar, terima kasih")) == (
        "message",
        {
            "from_phone": THEIR_PHONE,
            "from_jid": f"{THEIR_PHONE}@s.whatsapp.net",
            "text": "Sudah bayar, terima kasih",
            "wa_message_id": "3EB0INCOMING",
            "at": pytest.approx(1_700_000_456.789),
        },
    )


def test_extended_text_message_and_lid_sender():
    event = incoming(
        Chat=JID(User="123456789012345", Server="lid"),
        Sender=JID(User="123456789012345", Server="lid"),
        SenderAlt=user_jid(THEIR_PHONE),
    )
    event.Message.CopyFrom(
        WAMessage(extendedTextMessage=ExtendedTextMessage(text="cek https://x.id"))
    )
    kind, data = map_message(event)
    assert (kind, data["text"], data["from_phone"]) == ("message", "cek https://x.id", THEIR_PHONE)
    assert data["from_jid"] == "123456789012345@lid"


def test_messages_from_ourselves_groups_status_and_media_are_ignored():
    assert map_message(incoming("my own words", from_me=True)) is None
    group = JID(User="120363000000000000", Server="g.us")
    assert map_message(incoming("group chatter", Chat=group, IsGroup=True)) is None
    status = JID(User="status", Server="broadcast")
    assert map_message(incoming("a status update", Chat=status)) is None
    assert map_message(incoming("")) is None  # no text: a sticker, reaction, ...


def test_logged_out_event_forgets_credentials_and_never_retries():
    loss = map_connection_loss(LoggedOutEv(OnConnect=True, Reason=ConnectFailureReason.LOGGED_OUT))
    assert loss == ConnectionLoss(
        "logged_out", "logged out from the phone", retry=False, forget_credentials=True
    )
    assert loss.event() == ("status", {"status": "logged_out", "reason": loss.reason})


def test_temporary_ban_carries_reason_and_expiry():
    event = TemporaryBanEv(Code=TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600)
    loss = map_connection_loss(event, now=1_000.0)
    assert (loss.status, loss.retry, loss.forget_credentials) == ("banned", False, False)
    assert loss.expires_at == 4_600.0
    assert "too many people" in loss.reason
    kind, data = loss.event()
    assert (kind, data["status"], data["expires_at"]) == ("status", "banned", 4_600.0)


def test_connect_failures_split_into_ban_logout_and_retry():
    ban = map_connection_loss(ConnectFailureEv(Reason=ConnectFailureReason.TEMP_BANNED))
    assert (ban.status, ban.retry) == ("banned", False)
    gone = map_connection_loss(ConnectFailureEv(Reason=ConnectFailureReason.MAIN_DEVICE_GONE))
    assert (gone.status, gone.forget_credentials) == ("logged_out", True)
    busy = map_connection_loss(
        ConnectFailureEv(Reason=ConnectFailureReason.SERVICE_UNAVAILABLE, Message="try later")
    )
    assert (busy.status, busy.retry) == ("disconnected", True)
    assert "service unavailable" in busy.reason and "try later" in busy.reason
    outdated = map_connection_loss(ConnectFailureEv(Reason=ConnectFailureReason.CLIENT_OUTDATED))
    assert (outdated.status, outdated.retry) == ("failed", False)


def test_replaced_dropped_and_keepalive_losses():
    replaced = map_connection_loss(StreamReplacedEv())
    assert (replaced.status, replaced.reason, replaced.retry) == (
        "disconnected",
        "replaced by another client",
        False,
    )
    assert map_connection_loss(DisconnectedEv(status=True)).retry is True
    assert map_connection_loss(KeepAliveTimeoutEv(ErrorCount=2), keepalive_failures=3) is None
    missed = map_connection_loss(KeepAliveTimeoutEv(ErrorCount=3), keepalive_failures=3)
    assert (missed.status, missed.retry) == ("disconnected", True)
    assert map_connection_loss(ConnectedEv(status=True)) is None


def test_qr_bytes_become_a_qr_event():
    assert map_qr(b"2@abc,def,ghi,1", now=100.0, first=True) == (
        "qr",
        {"code": "2@abc,def,ghi,1", "expires_at": 160.0},
    )
    assert map_qr(b"2@xyz", now=100.0, first=False)[1]["expires_at"] == 120.0


def test_pair_status_success_gives_the_linked_number():
    ok = PairStatusEv(ID=user_jid(OUR_PHONE, device=12), Status=PairStatus.SUCCESS)
    assert map_pair_status(ok) == ("paired", {"phone": OUR_PHONE})
    failed = PairStatusEv(ID=user_jid(OUR_PHONE), Status=PairStatus.ERROR, Error="bad signature")
    assert map_pair_status(failed) is None


def test_login_status_outcomes():
    assert map_login_status("success") is None
    timeout = map_login_status("timeout")
    assert (timeout.status, timeout.retry) == ("disconnected", False)
    assert map_login_status("err-client-outdated").status == "failed"
    assert map_login_status("err-unexpected-state").retry is True


def test_epoch_seconds_normalises_units():
    assert epoch_seconds(1_700_000_000) == 1_700_000_000.0
    assert epoch_seconds(1_700_000_000_500) == pytest.approx(1_700_000_000.5)
    assert epoch_seconds(1_700_000_000_000_000_000) == pytest.approx(1_700_000_000.0)
    assert epoch_seconds(0) is None


# ---------------------------------------------------------------------------------------------
# test doubles and helpers
# ---------------------------------------------------------------------------------------------


class Recorder:
    """The ``emit`` callback: records events and lets a test wait for one (no sleeps)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.unserialisable: list[tuple[str, dict]] = []
        self.cond = threading.Condition()

    def __call__(self, kind: str, **data) -> None:
        try:
            json.dumps(data)  # the session host publishes events as JSON
        except TypeError:
            self.unserialisable.append((kind, data))
        with self.cond:
            self.events.append((kind, data))
            self.cond.notify_all()

    def wait_for(self, predicate, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (found := predicate(list(self.events))):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"not seen within {timeout} s; events: {self.events}")
                self.cond.wait(remaining)
            return found

    def statuses(self) -> list[dict]:
        with self.cond:
            return [data for kind, data in self.events if kind == "status"]

    def wait_status(self, status: str, count: int = 1, timeout: float = 30.0) -> dict:
        def seen(events):
            found = [d for k, d in events if k == "status" and d["status"] == status]
            return found[count - 1] if len(found) >= count else None

        return self.wait_for(seen, timeout)


class FakeEvents:
    """neonize's ``client.event``: ``event(EventType)(handler)`` and ``event.qr(handler)``."""

    def __init__(self) -> None:
        self.handlers: dict[type, object] = {}
        self.qr_handler = None

    def __call__(self, event_type):
        def register(handler):
            self.handlers[event_type] = handler

        return register

    def qr(self, handler) -> None:
        self.qr_handler = handler


class FakeClient:
    """Behaves like neonize's NewClient where it matters: connect() blocks until stop()."""

    def __init__(self, path: str, client_id: str, on_connect=None, send_error=None) -> None:
        self.path = Path(path)
        self.client_id = client_id
        self.event = FakeEvents()
        self.on_connect = on_connect
        self.send_error = send_error
        self.released = threading.Event()
        self.connecting = threading.Event()
        self.connect_calls = 0
        self.store_at_connect: tuple[bytes, int] | None = None
        self.lids: dict[str, JID] = {}
        self.sent: list[tuple[JID, WAMessage]] = []
        self.pair_calls: list[tuple] = []
        self.logged_out = False

    def connect(self) -> None:
        self.connect_calls += 1
        self.store_at_connect = (self.path.read_bytes(), stat.S_IMODE(self.path.stat().st_mode))
        self.released.clear()
        if self.on_connect is not None:
            self.on_connect(self)
        self.connecting.set()
        self.released.wait(30)
        self.connecting.clear()

    def stop(self) -> None:
        self.released.set()

    def fire(self, event) -> None:
        """Deliver an event as neonize does: to the handler registered for its type."""
        self.event.handlers[type(event)](self, event)

    def show_qr(self, data: bytes) -> None:
        self.event.qr_handler(self, data)

    def send_message(self, to, message):
        if self.send_error is not None and (to.Server != "lid" or not self.lids):
            raise self.send_error
        self.sent.append((to, message))
        return SendResponse(ID="3EB0SENT", Timestamp=1_700_000_789)

    def get_lid_from_pn(self, jid):
        """whatsmeow's store of phone number -> LID: an empty JID when it knows none."""
        return self.lids.get(jid.User, JID())

    def PairPhone(self, phone, show_push_notification, client_name=None, client_type=None):  # noqa: N802
        self.pair_calls.append((phone, show_push_notification, client_name, client_type))
        return "ABCD-EFGH"

    def logout(self) -> None:
        """Unlink; WhatsApp may answer with a device-removed stream error, i.e. LoggedOut."""
        self.logged_out = True
        self.fire(LoggedOutEv(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT))


def device_store(path: Path, jid: str = f"{OUR_PHONE}:7@s.whatsapp.net") -> bytes:
    """An SQLite file shaped like neonize's store after pairing (the parts Kabar reads)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
    conn.execute("INSERT OR REPLACE INTO whatsmeow_device (jid) VALUES (?)", (jid,))
    conn.commit()
    conn.close()
    return path.read_bytes()


def poll(predicate, timeout: float = 30.0):
    """Check ``predicate`` until it holds or the deadline passes (for state with no event)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        pause.wait(0.01)
    return value


def connecting(clients: list[FakeClient]) -> FakeClient:
    """Wait until the transport's thread made a stand-in client and is blocked in connect()."""
    poll(lambda: clients and clients[-1].connecting.is_set())
    return clients[-1]


def plaintext_files(workdir: Path) -> list[Path]:
    return sorted(workdir.glob("*.sqlite*")) if workdir.exists() else []


@pytest.fixture
def store(tmp_path) -> CredentialStore:
    return CredentialStore(tmp_path / "credentials", SESSION, os.urandom(32))


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def make(store, workdir):
    """Build transports that are stopped after the test, whatever happens."""
    made: list[NeonizeTransport] = []

    def build(recorder, clients: list | None = None, credentials=None, **options):
        opts = {
            "workdir": workdir,
            "backoff_base": 0.01,
            "backoff_cap": 0.05,
            "max_attempts": 3,
            "jitter": 0.0,
            **options,
        }
        if clients is not None:
            client_kwargs = opts.pop("fake", {})

            def factory(path, client_id):
                client = FakeClient(path, client_id, **client_kwargs)
                clients.append(client)
                return client

            opts["client_factory"] = factory
        transport = NeonizeTransport(SESSION, credentials or store, recorder, opts)
        made.append(transport)
        return transport

    yield build
    for transport in made:
        transport.stop()


@pytest.fixture
def thread_errors(monkeypatch) -> list:
    """Exceptions that escaped any thread during the test."""
    errors: list = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


def run_thread(transport: NeonizeTransport) -> threading.Thread:
    return transport._run.thread


# ---------------------------------------------------------------------------------------------
# a real neonize client, offline
# ---------------------------------------------------------------------------------------------


def test_offline_client_retries_with_growing_attempts_then_fails(
    make, workdir, store, thread_errors
):
    recorder = Recorder()
    transport = make(recorder)
    transport.start()

    recorder.wait_for(
        lambda ev: any(k == "qr" or (k == "status" and d["status"] == "failed") for k, d in ev),
        timeout=60,
    )
    if any(kind == "qr" for kind, _ in recorder.events):
        pytest.skip("WhatsApp is reachable from here; this test needs it unreachable")
    run_thread(transport).join(10)

    assert not run_thread(transport).is_alive()
    assert [(s["status"], s.get("attempt")) for s in recorder.statuses()] == [
        ("connecting", 1),
        ("disconnected", 1),
        ("connecting", 2),
        ("disconnected", 2),
        ("connecting", 3),
        ("failed", 3),
    ]
    disconnected = [s for s in recorder.statuses() if s["status"] == "disconnected"]
    assert [s["retry_in"] for s in disconnected] == [0.01, 0.02]
    failed = recorder.statuses()[-1]
    assert "whatsapp" in failed["reason"].lower()  # neonize's dial error, passed on
    assert "internal error" not in failed["reason"]
    assert thread_errors == [] and recorder.unserialisable == []
    assert plaintext_files(workdir) == []
    assert not store.exists()  # never paired: nothing worth keeping


def test_stop_during_backoff_ends_thread_at_once_and_removes_plaintext(
    make, workdir, thread_errors
):
    recorder = Recorder()
    transport = make(recorder, backoff_base=30.0, backoff_cap=30.0, max_attempts=10)
    transport.start()
    first = recorder.wait_for(
        lambda ev: next(
            (d for k, d in ev if k == "qr" or (k == "status" and d["status"] == "disconnected")),
            None,
        ),
        timeout=60,
    )
    if "code" in first:
        pytest.skip("WhatsApp is reachable from here; this test needs it unreachable")
    assert first["retry_in"] == 30.0
    assert plaintext_files(workdir)  # the working store exists while the session runs

    began = time.monotonic()
    transport.stop()
    elapsed = time.monotonic() - began

    assert not run_thread(transport).is_alive()
    assert elapsed < 5.0
    assert plaintext_files(workdir) == []
    assert [s["status"] for s in recorder.statuses()] == ["connecting", "disconnected"]
    transport.stop()  # idempotent
    assert thread_errors == []


def test_stored_credentials_are_decrypted_for_a_real_client_and_removed_after(
    make, workdir, store, tmp_path
):
    template = sqlite3.connect(tmp_path / "template.sqlite")
    template.execute("CREATE TABLE kabar_marker (x)")
    template.commit()
    template.close()
    blob = (tmp_path / "template.sqlite").read_bytes()
    store.save(blob)
    seen: list[tuple[bytes, int]] = []
    recorder = Recorder()
    transport = make(recorder, backoff_base=30.0, backoff_cap=30.0)

    def real_client(path, client_id):
        target = Path(path)
        seen.append((target.read_bytes(), stat.S_IMODE(target.stat().st_mode)))
        return transport._new_client(path, client_id)

    transport.client_factory = real_client
    transport.start()
    recorder.wait_for(
        lambda ev: any(k == "qr" or (k == "status" and d["status"] != "connecting") for k, d in ev),
        timeout=60,
    )
    transport.stop()

    assert seen == [(blob, 0o600)]
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert plaintext_files(workdir) == []
    assert store.load() == blob  # stop keeps the login; a store without a device is not sealed


def test_send_text_and_pair_phone_need_a_connection(make):
    transport = make(Recorder())
    with pytest.raises(NotConnected):
        transport.send_text(f"{THEIR_PHONE}@s.whatsapp.net", "hi", "kabar-1")
    with pytest.raises(NotConnected):
        transport.pair_phone(OUR_PHONE)
    transport.stop()  # stopping what never started is fine


# ---------------------------------------------------------------------------------------------
# the session life cycle, on the stand-in client
# ---------------------------------------------------------------------------------------------


def test_qr_codes_and_a_pairing_code_while_waiting_for_a_scan(make):
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients, fake={"on_connect": lambda c: c.show_qr(b"2@first,ref")})
    before = time.time()
    transport.start()

    kind, qr = recorder.wait_for(lambda ev: next((e for e in ev if e[0] == "qr"), None))
    assert qr["code"] == "2@first,ref"
    assert before + 59 <= qr["expires_at"] <= time.time() + 60
    assert transport.pair_phone("+62 812-3456-7890") == "ABCD-EFGH"
    assert clients[0].pair_calls == [(OUR_PHONE, True, ClientName.LINUX, ClientType.CHROME)]

    clients[0].show_qr(b"2@second,ref")
    second = recorder.wait_for(lambda ev: [d for k, d in ev if k == "qr"][1:])[0]
    assert second["expires_at"] <= time.time() + 20


def test_pair_phone_before_the_qr_is_refused(make):
    clients: list[FakeClient] = []
    transport = make(Recorder(), clients)
    transport.start()
    connecting(clients)
    with pytest.raises(NotConnected):
        transport.pair_phone(OUR_PHONE)


def test_credentials_are_decrypted_before_connect_and_sealed_back_on_stop(
    make, store, workdir, tmp_path
):
    blob = device_store(tmp_path / "paired.sqlite")
    store.save(blob)
    clients: list[FakeClient] = []
    transport = make(Recorder(), clients)
    transport.start()
    connecting(clients)

    assert clients[0].store_at_connect == (blob, 0o600)
    device_store(clients[0].path, jid=f"{OUR_PHONE}:9@s.whatsapp.net")  # neonize wrote to it
    transport.stop()

    assert plaintext_files(workdir) == []
    sealed = tmp_path / "sealed.sqlite"
    sealed.write_bytes(store.load())
    rows = sqlite3.connect(sealed).execute("SELECT jid FROM whatsmeow_device").fetchall()
    assert (f"{OUR_PHONE}:9@s.whatsapp.net",) in rows


def test_pairing_and_connecting_report_the_number_and_seal_the_login(make, store):
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()
    connecting(clients)
    assert not store.exists()

    device_store(clients[0].path)  # what whatsmeow writes when the phone scans the QR
    clients[0].fire(PairStatusEv(ID=user_jid(OUR_PHONE, 7), Status=PairStatus.SUCCESS))
    clients[0].fire(ConnectedEv(status=True))

    assert recorder.wait_status("connected")["phone"] == OUR_PHONE
    assert ("paired", {"phone": OUR_PHONE}) in recorder.events
    assert snapshot_store(clients[0].path) is not None and store.exists()


def test_connected_session_sends_and_reports_receipts_and_replies(make):
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()
    connecting(clients)
    client = clients[0]
    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected")

    text = "Tagihan @123456789 jatuh tempo"
    result = transport.send_text(f"{THEIR_PHONE}@s.whatsapp.net", text, "kabar-ignored-id")

    assert result == SendResult(wa_message_id="3EB0SENT", sent_at=1_700_000_789.0)
    assert client.sent == [(build_jid(THEIR_PHONE), WAMessage(conversation=text))]

    client.fire(receipt(Receipt.DELIVERED, ["3EB0SENT", "3EB0OTHER"]))
    client.fire(incoming("ok"))
    receipts = [d for k, d in recorder.events if k == "receipt"]
    assert [(r["wa_message_id"], r["status"]) for r in receipts] == [
        ("3EB0SENT", "delivered"),
        ("3EB0OTHER", "delivered"),
    ]
    assert [d["text"] for k, d in recorder.events if k == "message"] == ["ok"]


def test_send_errors_become_transport_errors(make):
    clients: list[FakeClient] = []
    transport = make(Recorder(), clients)
    transport.start()
    connecting(clients)
    clients[0].fire(ConnectedEv(status=True))

    clients[0].send_error = SendMessageError("server returned error 479")
    with pytest.raises(SendFailed, match="479"):
        transport.send_text(THEIR_PHONE, "hi", "kabar-1")
    clients[0].send_error = SendMessageError("websocket not connected")
    with pytest.raises(NotConnected):
        transport.send_text(THEIR_PHONE, "hi", "kabar-1")
    with pytest.raises(SendFailed):
        transport.send_text("@s.whatsapp.net", "hi", "kabar-1")


def test_a_chat_moved_to_a_lid_is_sent_to_that_lid(make):
    """whatsmeow fails a phone-number send with "no LID found" when the chat moved to a hidden
    number it cannot resolve; the transport sends once more to the LID its store knows."""
    clients: list[FakeClient] = []
    transport = make(Recorder(), clients)
    transport.start()
    connecting(clients)
    client = clients[0]
    client.fire(ConnectedEv(status=True))
    client.send_error = SendMessageError(f"failed to get LID for PN {THEIR_PHONE}: no LID found")

    with pytest.raises(SendFailed, match="no LID stored"):  # the store knows no LID either
        transport.send_text(THEIR_PHONE, "hi", "kabar-1")
    assert client.sent == []

    lid = JID(User="123456789012345", Server="lid")
    client.lids[THEIR_PHONE] = lid
    result = transport.send_text(THEIR_PHONE, "Tagihan Anda", "kabar-2")
    assert result.wa_message_id == "3EB0SENT"
    assert client.sent == [(lid, WAMessage(conversation="Tagihan Anda"))]

    client.send_error = SendMessageError("server returned error 479")  # not about LIDs
    with pytest.raises(SendFailed, match="479"):
        transport.send_text(THEIR_PHONE, "hi", "kabar-3")


def test_lost_connection_backs_off_reconnects_and_connected_resets_attempts(make):
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients, max_attempts=5)
    transport.start()
    connecting(clients)
    client = clients[0]

    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected")
    client.fire(DisconnectedEv(status=True))
    dropped = recorder.wait_status("disconnected")
    assert (dropped["reason"], dropped["attempt"]) == ("connection closed by WhatsApp", 1)
    with pytest.raises(NotConnected):
        transport.send_text(THEIR_PHONE, "hi", "kabar-1")

    recorder.wait_status("connecting", count=2)
    poll(lambda: client.connect_calls == 2 and client.connecting.is_set())
    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected", count=2)
    client.fire(DisconnectedEv(status=True))
    assert recorder.wait_status("disconnected", count=2)["attempt"] == 1  # reset by connecting


def test_logged_out_event_forgets_credentials_and_does_not_reconnect(make, store, workdir):
    store.save(device_store(workdir.parent / "paired.sqlite"))
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()
    connecting(clients)

    clients[0].fire(LoggedOutEv(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT))
    assert recorder.wait_status("logged_out")["reason"] == "logged out from the phone"
    run_thread(transport).join(10)

    assert not run_thread(transport).is_alive()
    assert clients[0].connect_calls == 1
    assert not store.exists()
    transport.stop()
    assert not store.exists() and plaintext_files(workdir) == []


def test_temporary_ban_stops_without_reconnecting(make, store, workdir):
    store.save(device_store(workdir.parent / "paired.sqlite"))
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()
    connecting(clients)

    before = time.time()
    clients[0].fire(TemporaryBanEv(Code=TemporaryBan.BLOCKED_BY_USERS, Expire=7200))
    banned = recorder.wait_status("banned")
    run_thread(transport).join(10)

    assert "blocked by too many users" in banned["reason"]
    assert before + 7200 <= banned["expires_at"] <= time.time() + 7200
    assert not run_thread(transport).is_alive() and clients[0].connect_calls == 1
    assert store.exists()  # the login may work again once the ban lifts


def test_stream_replaced_stops_without_reconnect_storm(make):
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()
    connecting(clients)
    clients[0].fire(ConnectedEv(status=True))
    clients[0].fire(StreamReplacedEv())

    replaced = recorder.wait_status("disconnected")
    run_thread(transport).join(10)
    assert replaced["reason"] == "replaced by another client" and "retry_in" not in replaced
    assert not run_thread(transport).is_alive() and clients[0].connect_calls == 1


def test_qr_not_scanned_in_time_ends_the_run(make):
    def qr_then_timeout(client):
        client.show_qr(b"2@only")
        client._NewClient__onLoginStatus(None, b"timeout")

    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients, fake={"on_connect": qr_then_timeout})
    transport.start()

    ended = recorder.wait_status("disconnected")
    run_thread(transport).join(10)
    assert "not scanned in time" in ended["reason"]
    assert not run_thread(transport).is_alive() and clients[0].connect_calls == 1


def test_logout_unlinks_the_device_and_forgets_credentials(make, store, workdir):
    store.save(device_store(workdir.parent / "paired.sqlite"))
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()
    connecting(clients)
    clients[0].fire(ConnectedEv(status=True))
    recorder.wait_status("connected")

    transport.logout()

    assert clients[0].logged_out
    assert not store.exists()
    assert plaintext_files(workdir) == []
    assert not run_thread(transport).is_alive()
    assert [s["status"] for s in recorder.statuses()][-1] == "logged_out"
    assert sum(s["status"] == "logged_out" for s in recorder.statuses()) == 1


def test_unreadable_credentials_fail_without_connecting(make, store, tmp_path):
    CredentialStore(store.path.parent, SESSION, os.urandom(32)).save(b"SQLite format 3\x00...")
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()

    failed = recorder.wait_status("failed")
    assert "cannot decrypt" in failed["reason"]
    assert clients == []


def test_pair_phone_rejects_garbage_and_errors_are_transport_errors(make):
    transport = make(Recorder())
    with pytest.raises(TransportError) as excinfo:
        transport.pair_phone("no digits here")
    assert excinfo.value.code == "bad_request"
