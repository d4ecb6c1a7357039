"""The neonize transport: the connect loop on a real (offline) neonize client, and the session
life cycle on a stand-in client that behaves like neonize's (connect() blocks until stop(),
handlers are called from inside it). Its event mapping on real neonize protobufs, which needs
no database, is tests/unit/session_host/transports/test_neonize_mapping.py.

WhatsApp is unreachable from the test machines, so a real client's connect() fails at once; the
tests that need a live connection drive the stand-in's handlers with real neonize events.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from neonize.client import NewClient
from neonize.events import (
    ConnectedEv,
    DisconnectedEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    PairStatusEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.exc import SendMessageError
from neonize.proto.Neonize_pb2 import (
    JID,
    ConnectFailureReason,
    PairStatus,
    Receipt,
    SendResponse,
    TemporaryBan,
    UploadResponse,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    DocumentMessage,
    ImageMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.enum import ClientName, ClientType, MediaType
from neonize.utils.jid import build_jid
from PIL import Image

from tests.unit.session_host.transports.test_neonize_mapping import (
    OUR_PHONE,
    SESSION,
    THEIR_PHONE,
    device_store,
    incoming,
    receipt,
    user_jid,
)
from webapp.core.credentials import CredentialStore
from webapp.core.media_types import Media
from workers.session_host.transports.base import (
    NotConnected,
    NotOnWhatsApp,
    ReachOutLimited,
    SendFailed,
    SendResult,
    SendUncertain,
    TransportError,
)
from workers.session_host.transports.neonize.mapping import PASSKEY_REASON
from workers.session_host.transports.neonize.store import snapshot_store
from workers.session_host.transports.neonize.transport import NeonizeTransport

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
    """Behaves like neonize's NewClient where it matters: connect() blocks until stop(), and
    handlers are called from inside it. What would kill a real process is recorded in
    ``crashes``: a stop() from inside a handler, or a stop() before a login's QR loop ended
    (neonize's Go side then reads the deleted client back). A fresh login sits in the QR loop
    (``me`` unset) until ``end_login`` closes it or an event shows Go is past it; with
    ``hang_on_stop`` a stop inside the QR loop never ends connect(), as in neonize 0.5.2."""

    def __init__(
        self, path: str, client_id: str, on_connect=None, send_error=None, hang_on_stop=False
    ) -> None:
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
        self.hang_on_stop = hang_on_stop
        self.me = None
        self.crashes: list[str] = []
        self.stops = 0
        self.send_calls = 0
        self.uploads: list[tuple[str, Any]] = []
        self._in_handler = 0

    def connect(self) -> None:
        self.connect_calls += 1
        self.store_at_connect = (self.path.read_bytes(), stat.S_IMODE(self.path.stat().st_mode))
        self.released.clear()
        if self.store_at_connect[0]:
            self.me = "device"  # a stored login skips the QR loop
        if self.on_connect is not None:
            self.on_connect(self)
        self.connecting.set()
        self.released.wait(30)
        self.connecting.clear()

    def stop(self) -> None:
        self.stops += 1
        if self._in_handler:
            self.crashes.append("stop() from inside a neonize handler")
        if self.me is None and self.hang_on_stop:
            return  # the QR loop never ends: connect() stays blocked
        self.released.set()

    def _handle(self, handler, *args) -> None:
        self._in_handler += 1
        try:
            handler(self, *args)
        finally:
            self._in_handler -= 1

    def fire(self, event) -> None:
        """Deliver an event as neonize does: to the handler registered for its type. Events
        come through neonize's event loop, which runs once Go is past the QR loop."""
        if self.me is None:
            self.me = "device"
        self._handle(self.event.handlers[type(event)], event)

    def show_qr(self, data: bytes) -> None:
        self._handle(self.event.qr_handler, data)

    def end_login(self, status: bytes, closes: bool = True) -> None:
        """whatsmeow's QR channel reports ``status``; ``closes``: it then closes the channel and
        neonize reads the client back (FetchMe) before setting ``me``."""
        self._in_handler += 1
        try:
            self._NewClient__onLoginStatus(None, status)
        finally:
            self._in_handler -= 1
        if closes:
            if self.stops:
                self.crashes.append("FetchMe on a stopped client")
            else:
                self.me = "device"

    # neonize's own builders of media messages; only the upload (a call into Go) is stood in.
    build_image_message = NewClient.build_image_message
    build_document_message = NewClient.build_document_message
    _parse_mention = NewClient._parse_mention
    _parse_group_mention = NewClient._parse_group_mention

    def upload(self, binary: bytes, media_type=None) -> UploadResponse:
        self.uploads.append((hashlib.sha256(binary).hexdigest(), media_type))
        digest = hashlib.sha256(binary).digest()
        return UploadResponse(
            url="https://mmg.whatsapp.net/x",
            DirectPath="/v/x",
            MediaKey=b"k" * 32,
            FileEncSHA256=digest,
            FileSHA256=digest,
            FileLength=len(binary),
        )

    def send_message(self, to, message):
        self.send_calls += 1
        if self.send_error is not None:
            raise self.send_error
        self.sent.append((to, message))
        return SendResponse(ID="3EB0SENT", Timestamp=1_700_000_789)

    def PairPhone(self, phone, show_push_notification, client_name=None, client_type=None):  # noqa: N802
        self.pair_calls.append((phone, show_push_notification, client_name, client_type))
        return "ABCD-EFGH"

    def logout(self) -> None:
        """Unlink; WhatsApp may answer with a device-removed stream error, i.e. LoggedOut."""
        self.logged_out = True
        self.fire(LoggedOutEv(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT))


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


def _connected(make) -> tuple[NeonizeTransport, FakeClient, Recorder]:
    """A transport whose stand-in client is connected."""
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    transport.start()
    connecting(clients)
    clients[0].fire(ConnectedEv(status=True))
    recorder.wait_status("connected")
    return transport, clients[0], recorder


def test_an_image_goes_out_as_an_image_message_uploaded_from_its_bytes(make):
    transport, client, _ = _connected(make)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "blue").save(buffer, "PNG")
    png = buffer.getvalue()
    sha = hashlib.sha256(png).hexdigest()
    caption = "QRIS @6281234567890 Rp150.000"
    image = Media("image", png, "image/png", sha)

    result = transport.send_media(f"{THEIR_PHONE}@s.whatsapp.net", caption, image, "ignored")

    assert result == SendResult(wa_message_id="3EB0SENT", sent_at=1_700_000_789.0)
    ((to, message),) = client.sent
    assert to == build_jid(THEIR_PHONE)
    assert message.HasField("imageMessage") and not message.HasField("documentMessage")
    part = message.imageMessage
    assert isinstance(part, ImageMessage)
    assert part.caption == caption
    assert part.mimetype == "image/png"
    assert part.fileSHA256 == bytes.fromhex(sha) and part.fileLength == len(png)
    assert part.JPEGThumbnail.startswith(b"\xff\xd8")  # neonize made the thumbnail
    assert list(part.contextInfo.mentionedJID) == []  # the caption is no mention
    assert client.uploads == [(sha, None)]


def test_a_document_goes_out_as_a_document_message_with_its_name_and_type(make):
    transport, client, _ = _connected(make)
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    sha = hashlib.sha256(pdf).hexdigest()
    document = Media("document", pdf, "application/pdf", sha, file_name="tagihan-INV-9.pdf")

    transport.send_media(THEIR_PHONE, "Tagihan INV-9", document, "ignored")

    ((_, message),) = client.sent
    assert message.HasField("documentMessage") and not message.HasField("imageMessage")
    part = message.documentMessage
    assert isinstance(part, DocumentMessage)
    assert (part.caption, part.fileName, part.title) == (
        "Tagihan INV-9",
        "tagihan-INV-9.pdf",
        "tagihan-INV-9.pdf",
    )
    assert part.mimetype == "application/pdf"
    assert part.fileSHA256 == bytes.fromhex(sha) and part.fileLength == len(pdf)
    assert client.uploads == [(sha, MediaType.MediaDocument)]


def test_sending_media_needs_a_connection(make):
    transport = make(Recorder())
    with pytest.raises(NotConnected):
        transport.send_media(THEIR_PHONE, "", Media("image", b"x", "image/png", "0" * 64), "k")


def test_send_errors_become_transport_errors_and_no_lid_is_never_resent(make):
    clients: list[FakeClient] = []
    transport = make(Recorder(), clients)
    transport.start()
    connecting(clients)
    client = clients[0]
    client.fire(ConnectedEv(status=True))

    client.send_error = SendMessageError(f"no LID found for {THEIR_PHONE}@s.whatsapp.net")
    with pytest.raises(NotOnWhatsApp):
        transport.send_text(THEIR_PHONE, "hi", "kabar-1")
    assert client.send_calls == 1  # whatsmeow already asked its store and the server
    client.send_error = SendMessageError("server returned error 463")
    with pytest.raises(ReachOutLimited):
        transport.send_text(THEIR_PHONE, "hi", "kabar-2")
    client.send_error = SendMessageError("timed out waiting for message send response")
    with pytest.raises(SendUncertain):
        transport.send_text(THEIR_PHONE, "hi", "kabar-3")
    client.send_error = SendMessageError("websocket not connected")
    with pytest.raises(NotConnected):
        transport.send_text(THEIR_PHONE, "hi", "kabar-4")
    with pytest.raises(SendFailed):
        transport.send_text("@s.whatsapp.net", "hi", "kabar-5")
    assert client.sent == [] and client.crashes == []


def test_a_dropped_connection_is_left_to_whatsmeows_own_reconnect(make):
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
    assert "reconnecting" in dropped["reason"] and "retry_in" not in dropped
    with pytest.raises(NotConnected):
        transport.send_text(THEIR_PHONE, "hi", "kabar-1")

    client.fire(ConnectedEv(status=True))  # whatsmeow reconnected by itself
    recorder.wait_status("connected", count=2)
    assert transport.send_text(THEIR_PHONE, "hi", "kabar-2").wa_message_id == "3EB0SENT"

    client.fire(KeepAliveTimeoutEv(ErrorCount=3))
    assert "keep-alives" in recorder.wait_status("disconnected", count=2)["reason"]
    client.fire(KeepAliveRestoredEv())
    recorder.wait_status("connected", count=3)

    assert client.connect_calls == 1 and client.stops == 0  # never torn down on a blip
    assert client.crashes == []


def test_kabar_steps_in_when_whatsmeow_does_not_reconnect_in_time(make):
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients, max_attempts=5, reconnect_grace=0.2)
    transport.start()
    connecting(clients)
    client = clients[0]
    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected")

    client.fire(DisconnectedEv(status=True))
    overdue = recorder.wait_for(
        lambda ev: next((d for k, d in ev if k == "status" and "retry_in" in d), None)
    )
    assert "did not reconnect within 0.2 s" in overdue["reason"] and overdue["attempt"] == 1
    poll(lambda: client.connect_calls == 2 and client.connecting.is_set())
    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected", count=2)
    assert client.crashes == []


def test_qr_not_scanned_in_time_waits_as_qr_expired_without_crashing_neonize(make):
    """The Go side reads the client back after the login status handler returns: stopping it
    from that handler (or before) would kill the process."""

    def qr_then_timeout(client):
        client.show_qr(b"2@only")
        client.end_login(b"timeout")

    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients, fake={"on_connect": qr_then_timeout})
    transport.start()

    ended = recorder.wait_status("qr_expired")
    run_thread(transport).join(10)
    assert "not scanned in time" in ended["reason"]
    assert not run_thread(transport).is_alive() and clients[0].connect_calls == 1
    assert clients[0].stops >= 1 and clients[0].crashes == []

    transport.stop()
    transport.start()  # the operator's "show a new QR": a new login, with new codes
    assert recorder.wait_for(lambda ev: [d for k, d in ev if k == "qr"][1:])
    recorder.wait_status("qr_expired", count=2)
    assert len(clients) == 2 and clients[1].crashes == []


def test_an_account_that_asks_for_a_passkey_fails_with_the_reason_and_never_hangs(make):
    def qr_then_passkey(client):
        client.show_qr(b"2@only")
        client.end_login(b"passkey-request", closes=False)  # whatsmeow keeps the channel open

    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients, fake={"on_connect": qr_then_passkey, "hang_on_stop": True})
    started = time.monotonic()
    transport.start()

    failed = recorder.wait_status("failed")
    assert time.monotonic() - started < 3  # told at once, not after the stop time-outs
    assert failed["reason"] == PASSKEY_REASON
    run_thread(transport).join(10)
    assert not run_thread(transport).is_alive()
    started = time.monotonic()
    transport.stop()
    assert time.monotonic() - started < 5
    assert clients[0].crashes == [] and clients[0].connect_calls == 1


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


def test_logout_unlinks_the_device_and_forgets_credentials(make, store, workdir):
    store.save(device_store(workdir.parent / "paired.sqlite"))
    transport, client, recorder = _connected(make)

    transport.logout()

    assert client.logged_out
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
    assert "another WA_ENCRYPTION_KEY" in failed["reason"] and SESSION in failed["reason"]
    assert clients == []


def test_pair_phone_rejects_garbage_and_errors_are_transport_errors(make):
    transport = make(Recorder())
    with pytest.raises(TransportError) as excinfo:
        transport.pair_phone("no digits here")
    assert excinfo.value.code == "bad_request"


def test_sends_reseal_the_store_once_per_burst(make, store, tmp_path):
    store.save(device_store(tmp_path / "paired.sqlite"))
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients, seal_after_send=0.5)
    transport.start()
    client = connecting(clients)
    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected")
    run = transport._run
    sealed = run.seals
    device_store(client.path, jid=f"{OUR_PHONE}:9@s.whatsapp.net")  # whatsmeow's new keys

    for n in range(20):
        transport.send_text(f"{THEIR_PHONE}@s.whatsapp.net", f"tagihan {n}", f"id-{n}")

    assert run.seals == sealed  # not once per message
    poll(lambda: run.seals > sealed)
    assert run.seals == sealed + 1 and run.seal_timer is None
    copy = tmp_path / "resealed.sqlite"
    copy.write_bytes(store.load())
    rows = sqlite3.connect(copy).execute("SELECT jid FROM whatsmeow_device").fetchall()
    assert (f"{OUR_PHONE}:9@s.whatsapp.net",) in rows  # sealed while the session runs


def test_plaintext_left_by_a_crashed_client_is_swept_when_its_session_starts(make, workdir, store):
    workdir.mkdir(mode=0o755)
    os.chmod(workdir, 0o755)
    ours = [
        f"{SESSION}-0123abcd.sqlite",
        f"{SESSION}-0123abcd.sqlite-journal",
        f".{SESSION}-0123abcd.sqlite.89abcdef.snapshot",
    ]
    theirs = f"{SESSION}-2-0123abcd.sqlite"  # another session's file, maybe in use
    for name in [*ours, theirs]:
        (workdir / name).write_bytes(b"SQLite format 3\x00 plaintext")
    clients: list[FakeClient] = []
    transport = make(Recorder(), clients)
    transport.start()
    client = connecting(clients)

    names = {p.name for p in workdir.iterdir()}
    assert not names & set(ours)
    assert theirs in names and Path(client.path).name in names
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    transport.stop()
    assert {p.name for p in workdir.iterdir()} == {theirs}


def test_the_working_store_defaults_to_a_folder_under_the_instance_dir(store, monkeypatch):
    from webapp import config

    transport = NeonizeTransport(SESSION, store, Recorder())
    assert transport._ensure_workdir() == config.WORKING_STORE_DIR
    assert config.WORKING_STORE_DIR.is_relative_to(config.INSTANCE_DIR)
