"""The neonize transport's pure parts: back-off, the mapping of real neonize events and
errors to Kabar's, and the snapshot of its SQLite store taken by another process."""

from __future__ import annotations

import os
import sqlite3
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
    StreamErrorEv,
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
    TemporaryBan,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    DocumentMessage,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    VideoMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage

from webapp.core.backoff import backoff
from workers.session_host.transports.base import (
    NotConnected,
    NotOnWhatsApp,
    ReachOutLimited,
    ReachOutRefused,
    SendFailed,
    SendUncertain,
)
from workers.session_host.transports.neonize.mapping import (
    PASSKEY_REASON,
    ConnectionLoss,
    epoch_seconds,
    map_connection_drop,
    map_connection_loss,
    map_login_status,
    map_message,
    map_pair_status,
    map_qr,
    map_receipt,
    map_send_error,
)
from workers.session_host.transports.neonize.store import snapshot_store

SESSION = "sess-1"
OUR_PHONE = "6281234567890"
THEIR_PHONE = "6289876543210"


def user_jid(phone: str, device: int = 0) -> JID:
    return JID(User=phone, Server="s.whatsapp.net", Device=device, IsEmpty=False)


# ---------------------------------------------------------------------------------------------
# back-off
# ---------------------------------------------------------------------------------------------


def test_backoff_doubles_from_base_and_stops_at_cap():
    delays = [backoff(n, 2.0, 60.0, 1.0, rng=lambda: 0.0) for n in range(1, 9)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert backoff(10_000, 2.0, 60.0, 0.0) == 60.0  # no overflow on absurd attempts


def test_backoff_jitter_adds_at_most_jitter_seconds():
    assert backoff(1, 2.0, 60.0, 1.5, rng=lambda: 1.0) == 3.5
    samples = [backoff(3, 2.0, 60.0, 1.0) for _ in range(500)]
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
    assert map_message(incoming("")) is None  # neither text nor media: a reaction, ...


def test_media_captions_and_media_only_replies_carry_their_type():
    event = incoming()
    event.Message.CopyFrom(WAMessage(imageMessage=ImageMessage(caption="bukti transfer")))
    kind, data = map_message(event)
    assert (kind, data["text"], data["media_type"]) == ("message", "bukti transfer", "image")

    event.Message.CopyFrom(WAMessage(imageMessage=ImageMessage()))  # a screenshot, no words
    assert (map_message(event)[1]["text"], map_message(event)[1]["media_type"]) == ("", "image")

    event.Message.CopyFrom(WAMessage(videoMessage=VideoMessage(caption="lampu modem merah")))
    assert map_message(event)[1]["media_type"] == "video"

    wrapped = WAMessage(
        documentWithCaptionMessage=FutureProofMessage(
            message=WAMessage(documentMessage=DocumentMessage(caption="invoice.pdf"))
        )
    )
    event.Message.CopyFrom(wrapped)
    assert (map_message(event)[1]["text"], map_message(event)[1]["media_type"]) == (
        "invoice.pdf",
        "document",
    )
    assert "media_type" not in map_message(incoming("teks biasa"))[1]


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


def test_replaced_is_a_loss_but_drops_are_left_to_whatsmeow():
    replaced = map_connection_loss(StreamReplacedEv())
    assert (replaced.status, replaced.reason, replaced.retry) == (
        "disconnected",
        "replaced by another client",
        False,
    )
    for drop in (DisconnectedEv(status=True), StreamErrorEv(Code="503"), KeepAliveTimeoutEv()):
        assert map_connection_loss(drop) is None
    assert "reconnecting" in map_connection_drop(DisconnectedEv(status=True))
    assert "503" in map_connection_drop(StreamErrorEv(Code="503"))
    assert map_connection_drop(KeepAliveTimeoutEv(ErrorCount=2), keepalive_failures=3) is None
    assert "3 keep-alives" in map_connection_drop(
        KeepAliveTimeoutEv(ErrorCount=3), keepalive_failures=3
    )
    assert map_connection_loss(ConnectedEv(status=True)) is None
    assert map_connection_drop(ConnectedEv(status=True)) is None


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
    assert map_login_status("err-scanned-without-multidevice") is None  # codes go on
    timeout = map_login_status("timeout")
    assert (timeout.status, timeout.retry) == ("qr_expired", False)
    assert map_login_status("err-client-outdated").status == "failed"
    unexpected = map_login_status("err-unexpected-state")
    assert (unexpected.status, unexpected.retry) == ("qr_expired", False)
    passkey = map_login_status("passkey-request")
    assert (passkey.status, passkey.reason, passkey.retry) == ("failed", PASSKEY_REASON, False)
    assert passkey.qr_loop_stays and not timeout.qr_loop_stays


@pytest.mark.parametrize(
    ("words", "error_type", "code"),
    [
        (
            "no LID found for 6289876543210@s.whatsapp.net from server",
            NotOnWhatsApp,
            "not_on_whatsapp",
        ),
        ("server returned error 463", ReachOutLimited, "reach_out_limited"),
        ("server returned error 479", ReachOutRefused, "reach_out_refused"),
        ("timed out waiting for message send response", SendUncertain, "send_uncertain"),
        ("websocket disconnected before message send returned response", SendUncertain, None),
        ("websocket not connected", NotConnected, "not_connected"),
        ("server returned error 500", SendFailed, "send_failed"),
    ],
)
def test_send_errors_are_mapped_by_what_they_mean(words, error_type, code):
    error = map_send_error(SendMessageError(words))
    assert type(error) is error_type
    assert error.code == (code or error_type.code)


def test_epoch_seconds_normalises_units():
    assert epoch_seconds(1_700_000_000) == 1_700_000_000.0
    assert epoch_seconds(1_700_000_000_500) == pytest.approx(1_700_000_000.5)
    assert epoch_seconds(1_700_000_000_000_000_000) == pytest.approx(1_700_000_000.0)
    assert epoch_seconds(0) is None


# ---------------------------------------------------------------------------------------------
# the store snapshot
# ---------------------------------------------------------------------------------------------


def device_store(path: Path, jid: str = f"{OUR_PHONE}:7@s.whatsapp.net") -> bytes:
    """An SQLite file shaped like neonize's store after pairing (the parts Kabar reads)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
    conn.execute("INSERT OR REPLACE INTO whatsmeow_device (jid) VALUES (?)", (jid,))
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_the_snapshot_is_taken_by_another_process_while_the_writer_keeps_writing(
    tmp_path, monkeypatch
):
    live = tmp_path / "live.sqlite"
    device_store(live)
    writer = sqlite3.connect(live, isolation_level=None)  # stands in for whatsmeow's Go SQLite
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO whatsmeow_device (jid) VALUES ('6280000000001:2@s.whatsapp.net')")
    opened: list[str] = []
    real_connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3,
        "connect",
        lambda target, *a, **k: opened.append(str(target)) or real_connect(target, *a, **k),
    )

    snapshot = snapshot_store(live)

    assert snapshot is not None and snapshot.pid != os.getpid()
    assert not any(str(live) in target for target in opened)  # never opened in this process
    assert snapshot.phone == OUR_PHONE
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(snapshot.blob)
    rows = real_connect(copy).execute("SELECT jid FROM whatsmeow_device").fetchall()
    assert rows == [(f"{OUR_PHONE}:7@s.whatsapp.net",)]  # the committed state only
    writer.execute("COMMIT")  # the writer's transaction survived the snapshot
    assert len(writer.execute("SELECT jid FROM whatsmeow_device").fetchall()) == 2
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite", "live.sqlite"]
