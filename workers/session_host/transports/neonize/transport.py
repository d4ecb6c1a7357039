"""The real WhatsApp transport: one linked device driven through neonize (whatsmeow in Go).

neonize keeps its login in an SQLite file. Kabar keeps that file only encrypted, in the session's
CredentialStore (the database); while a session runs, a plaintext working copy lives in a
private directory under the instance dir (0700, file 0600). It is sealed back into the store
when pairing succeeds, on connect, a few seconds after sends (one seal for a whole burst), now
and then while events flow, and on stop, and is deleted when the session stops; a crashed
client's leftovers are deleted when its session starts again. Sealing never opens the live file
in this process: a helper process (``store_snapshot.py``) takes a consistent copy with SQLite's
backup API, and only that copy is read and encrypted here (see FACTS.md: two SQLite libraries
in one process break each other's locks).

``client.connect()`` blocks for the life of a connection, so each session runs one daemon thread
that connects, watches and reconnects with capped exponential back-off, and connect() itself
runs on a thread of its own. neonize calls the event handlers below from inside ``connect()``;
the mapping from neonize's protobuf events to Kabar's events lives in pure module-level
functions so that it can be tested with real protobuf messages.

Facts about neonize 0.5.2 this module relies on (see the tests and /work/shared/FACTS.md):

- ``connect()`` only returns after the Go side is stopped (``client.stop()``) or when dialling
  fails. ``stop()`` deletes the Go client, and neonize's QR loop then reads it back (``FetchMe``)
  with no nil check: a stop from inside a handler, or before the QR loop has ended, crashes the
  process. Handlers therefore only record what happened; the run's thread stops the client,
  and only once neonize has set ``client.me`` (it is past its QR loop).
- whatsmeow reconnects by itself after a drop (neonize cannot turn that off): a drop is reported
  and left to it; Kabar builds a new connection only when whatsmeow has not reconnected within
  ``reconnect_grace``, or for the losses whatsmeow does not retry (logout, ban, replaced).
- A QR login that ends ("timeout", an error) becomes ``qr_expired`` and waits for the operator.
  An account WhatsApp asks for a passkey ("passkey-request") cannot be linked: ``failed`` with
  PASSKEY_REASON; whatsmeow then never closes its QR channel, so that connect() never returns and
  is left behind (in its own process, as the session host runs each number, that costs nothing).
- ``get_me()`` on a client the Go side does not hold kills the process (SIGSEGV): this module
  never calls it and reads the linked number from the working SQLite file instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neonize.client import NewClient
from neonize.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import JID, ConnectFailureReason, PairStatus, Receipt, TemporaryBan
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ClientName, ClientType
from neonize.utils.jid import Jid2String, build_jid

import webapp.config as config
from webapp.core.credentials import CredentialStore, CredentialsUnreadable
from workers.session_host.transports.base import (
    PASSKEY_REASON,
    QR_EXPIRED_REASON,
    EventSink,
    NotConnected,
    NotOnWhatsApp,
    ReachOutLimited,
    ReachOutRefused,
    SendFailed,
    SendResult,
    SendUncertain,
    Transport,
    TransportError,
)
from workers.session_host.transports.media import Media

log = logging.getLogger(__name__)

USER_SERVER = "s.whatsapp.net"
SQLITE_HEADER = b"SQLite format 3\x00"

# whatsmeow shows six QR codes per connection: the first for 60 s, the others for 20 s each.
QR_FIRST_TTL_S = 60.0
QR_NEXT_TTL_S = 20.0

DEFAULT_OPTIONS: dict[str, Any] = {
    "backoff_base": config.RECONNECT_BACKOFF_BASE_S,  # first retry (s), doubling per failure
    "backoff_cap": config.RECONNECT_BACKOFF_CAP_S,  # longest wait between two attempts
    "max_attempts": config.RECONNECT_MAX_ATTEMPTS,  # failures in a row before status "failed"
    "jitter": config.RECONNECT_JITTER_S,  # at most this many random seconds added to a wait
    "keepalive_failures": 3,  # missed keep-alives in a row reported as a drop
    "seal_interval": 300.0,  # seconds between re-encrypting the store while events arrive
    # seconds from a send to re-encrypting the store (whatsmeow advanced its keys); the sends
    # of a burst share one seal
    "seal_after_send": 3.0,
    "stop_timeout": 10.0,  # how long stop() waits for the connection thread
    # whatsmeow reconnects by itself after a drop; Kabar steps in (a new connection, counted
    # as a failed attempt) only when it has not managed to within this many seconds.
    "reconnect_grace": 300.0,
    # After a QR login ends, how long to wait for neonize to leave its QR loop before the Go
    # client may be stopped (stopping it earlier crashes the process).
    "stop_grace": 5.0,
    "device_name": "Kabar",  # the name the phone lists under "Linked devices"
}

Event = tuple[str, dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# Pure functions: back-off and the mapping of neonize events to Kabar events
# ---------------------------------------------------------------------------------------------


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    jitter: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Doubles from ``base`` up to ``cap``, plus up to ``jitter`` random seconds so that sessions
    dropped together (a host restart, a network blip) do not all reconnect in the same instant.
    """
    exponent = min(max(attempt, 1) - 1, 60)
    return min(base * 2**exponent, cap) + rand() * jitter


def epoch_seconds(value: float | int | None) -> float | None:
    """neonize reports times in seconds, milliseconds (message info) or nanoseconds; -> seconds.

    Anything above 1e11 (the year 5138 in seconds) cannot be seconds, so it is scaled down.
    """
    if not value or value <= 0:
        return None
    seconds = float(value)
    while seconds > 1e11:
        seconds /= 1000.0
    return seconds


def phone_of(jid: JID) -> str | None:
    """The phone number of a user JID ("6281234567890@s.whatsapp.net"), None for LIDs/groups."""
    if jid.Server == USER_SERVER and jid.User.isdigit():
        return jid.User
    return None


@dataclass(frozen=True)
class ConnectionLoss:
    """Why a connection ended and what to do about it.

    ``retry`` means the loop reconnects after a back-off; ``forget_credentials`` means the login
    is gone for good (logged out), so the stored credentials are deleted. ``qr_loop_stays``:
    whatsmeow keeps its QR channel open, so neonize's connect() will never return (a passkey
    request): the client is stopped at once and that connect() left behind.
    """

    status: str
    reason: str
    retry: bool = False
    forget_credentials: bool = False
    expires_at: float | None = None
    qr_loop_stays: bool = False

    def event(self) -> Event:
        data: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at
        return "status", data


_BAN_REASONS = {
    TemporaryBan.SEND_TO_TOO_MANY_PEOPLE: "sent messages to too many people",
    TemporaryBan.BLOCKED_BY_USERS: "blocked by too many users",
    TemporaryBan.CREATED_TOO_MANY_GROUPS: "created too many groups",
    TemporaryBan.SENT_TOO_MANY_SAME_MESSAGE: "sent the same message too many times",
    TemporaryBan.BROADCAST_LIST: "broadcast list misuse",
}

_LOGOUT_REASONS = {
    ConnectFailureReason.LOGGED_OUT: "logged out from the phone",
    ConnectFailureReason.MAIN_DEVICE_GONE: "the phone's WhatsApp account is gone",
    ConnectFailureReason.UNKNOWN_LOGOUT: "logged out by WhatsApp",
}

# Connect failures that retrying cannot fix.
_FATAL_FAILURES = {
    ConnectFailureReason.CLIENT_OUTDATED: "WhatsApp rejected this client version (neonize)",
    ConnectFailureReason.BAD_USER_AGENT: "WhatsApp rejected this client's user agent",
}

# Receipts that tell us about a message we sent. READ_SELF / PLAYED_SELF / SENDER come from our
# own other devices and INACTIVE / RETRY / PEER_MSG / HISTORY_SYNC are protocol chatter.
_RECEIPT_STATUS = {
    Receipt.DELIVERED: "delivered",
    Receipt.READ: "read",
    Receipt.PLAYED: "read",  # a played voice note or video has been seen
}


def map_receipt(event: ReceiptEv, now: float | None = None) -> list[Event]:
    """One ``receipt`` event per message id for delivered / read receipts; [] for others.

    Receipts flagged IsFromMe come from our own phone (it read someone else's message), not
    from a recipient, and a receipt without a type is one neonize could not classify.
    """
    if event.MessageSource.IsFromMe or not event.HasField("Type"):
        return []
    status = _RECEIPT_STATUS.get(event.Type)
    if status is None:
        return []
    at = epoch_seconds(event.Timestamp) or (time.time() if now is None else now)
    return [
        ("receipt", {"wa_message_id": message_id, "status": status, "at": at})
        for message_id in event.MessageIDs
        if message_id
    ]


# Media messages a customer may send, by the field of neonize's Message that holds them.
_MEDIA_FIELDS = (
    ("imageMessage", "image"),
    ("videoMessage", "video"),
    ("documentMessage", "document"),
    ("audioMessage", "audio"),
    ("stickerMessage", "sticker"),
)


def message_text(message: WAMessage) -> str:
    """The text of a plain or extended text message, or the caption of a media message."""
    if message.conversation:
        return message.conversation
    if message.HasField("extendedTextMessage"):
        return message.extendedTextMessage.text
    _, media = message_media(message)
    return getattr(media, "caption", "") if media is not None else ""


def message_media(message: WAMessage) -> tuple[str | None, Any]:
    """(``image`` | ``video`` | ``document`` | ``audio`` | ``sticker``, its protobuf) for a
    media message, (None, None) otherwise. A document sent with a caption comes wrapped."""
    if message.HasField("documentWithCaptionMessage"):
        message = message.documentWithCaptionMessage.message
    for field, media_type in _MEDIA_FIELDS:
        if message.HasField(field):
            return media_type, getattr(message, field)
    return None, None


def map_message(event: MessageEv, now: float | None = None) -> Event | None:
    """A ``message`` event for a text or media someone sent us in a one-to-one chat, else None.

    Our own messages (sent from the phone or echoed), groups, status updates and broadcasts are
    not replies to a notification and are skipped, as are messages with neither text nor media
    (reactions, protocol messages). Media carries ``media_type`` and its caption as ``text``
    (maybe "": a payment screenshot sent alone). ``from_phone`` is None when WhatsApp only gave
    a LID (a hidden number); ``from_jid`` always carries the sender's address.
    """
    info = event.Info
    source = info.MessageSource
    if source.IsFromMe or source.IsGroup:
        return None
    if source.Chat.Server in ("broadcast", "newsletter", "g.us"):
        return None
    text = message_text(event.Message)
    media_type, _ = message_media(event.Message)
    if not text and media_type is None:
        return None
    from_phone = phone_of(source.Sender) or phone_of(source.SenderAlt) or phone_of(source.Chat)
    data: dict[str, Any] = {
        "from_phone": from_phone,
        "from_jid": Jid2String(source.Sender),
        "text": text,
        "wa_message_id": info.ID,
        "at": epoch_seconds(info.Timestamp) or (time.time() if now is None else now),
    }
    if media_type is not None:
        data["media_type"] = media_type
    return "message", data


# whatsmeow's send errors, by what they mean for the message (see FACTS: neonize raises them as
# SendMessageError with whatsmeow's text).
_SERVER_ERROR = re.compile(r"server returned error (\d+)")
_UNCERTAIN = re.compile(
    r"timed out waiting for message send response|websocket disconnected before", re.IGNORECASE
)


def map_send_error(error: Exception) -> TransportError:
    """The TransportError a failed ``send_message`` means.

    "no LID found" (whatsmeow looked the number up in its store and on the server): the
    recipient has no WhatsApp. Server errors 463 and 479: WhatsApp's limits on writing to
    contacts this number has never talked to. A time-out or a socket closed before the answer:
    the message may have gone out. Anything else: a send failure of the number.
    """
    message = str(error) or type(error).__name__
    if "no lid found" in message.lower():
        return NotOnWhatsApp(f"the recipient is not on WhatsApp ({message})")
    if server := _SERVER_ERROR.search(message):
        if server.group(1) == "463":
            return ReachOutLimited(
                "WhatsApp limits first messages to new contacts from this number (error 463)"
            )
        if server.group(1) == "479":
            return ReachOutRefused(
                "WhatsApp refused a first message to this new contact (error 479)"
            )
    if _UNCERTAIN.search(message):
        return SendUncertain(f"WhatsApp did not confirm the send, it may have gone out ({message})")
    if "not connected" in message.lower():
        return NotConnected(message)
    return SendFailed(message)


def build_media_message(client: Any, caption: str, media: Media) -> WAMessage:
    """The ImageMessage or DocumentMessage of ``media``, uploaded by ``client`` (neonize's
    builders), with ``caption``."""
    if media.type == "image":
        message = client.build_image_message(media.data)
        part = message.imageMessage
    else:
        name = media.file_name or "document"
        message = client.build_document_message(
            media.data, title=name, filename=name, mimetype=media.mimetype
        )
        part = message.documentMessage
    if caption:
        part.caption = caption
    return message


def to_jid(address: str) -> JID:
    """The JID of "6281234567890@s.whatsapp.net" (a device suffix dropped) or of bare digits."""
    user, _, server = address.strip().partition("@")
    user = user.split(":", 1)[0]
    if not user:
        raise SendFailed(f"not a WhatsApp address: {address!r}", code="bad_request")
    return build_jid(user, server or USER_SERVER)


def map_on_whatsapp(answers: Any, asked: list[str]) -> dict[str, bool]:
    """``{phone: on WhatsApp}`` from neonize's IsOnWhatsAppResponse list, for the numbers asked.

    Each answer names the number it is about in ``Query`` (what was sent, "+62..."), else in its
    JID; a number WhatsApp said nothing about is left out, i.e. unknown.
    """
    wanted = set(asked)
    found: dict[str, bool] = {}
    for answer in answers:
        phone = re.sub(r"\D", "", answer.Query) or phone_of(answer.JID)
        if phone in wanted:
            found[phone] = bool(answer.IsIn)
    return found


def map_qr(data: bytes, now: float, first: bool) -> Event:
    """The ``qr`` event for the QR data neonize hands its QR callback."""
    code = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)
    ttl = QR_FIRST_TTL_S if first else QR_NEXT_TTL_S
    return "qr", {"code": code, "expires_at": now + ttl}


def map_pair_status(event: PairStatusEv) -> Event | None:
    """``paired`` with the linked number when pairing succeeded; None for a pairing error."""
    if event.Status != PairStatus.SUCCESS:
        return None
    phone = phone_of(event.ID) or re.sub(r"\D", "", event.ID.User) or None
    if phone is None:
        return None
    return "paired", {"phone": phone}


def map_login_status(status: str) -> ConnectionLoss | None:
    """What an event of the QR login means: neonize hands over whatsmeow's "success",
    "timeout", "err-*" and, since WhatsApp asks some accounts for one, "passkey-request".

    A login that ended without success waits for the operator (``qr_expired``) rather than
    showing QR codes nobody looks at; an outdated client or an account that wants a passkey
    cannot be linked by retrying (``failed``). A scan by a phone without multi-device support
    does not end the login (whatsmeow goes on showing codes): it is only logged.
    """
    if status in ("", "success", "code", "err-scanned-without-multidevice"):
        return None
    if status == "timeout":
        return ConnectionLoss("qr_expired", QR_EXPIRED_REASON)
    if status == "err-client-outdated":
        return ConnectionLoss("failed", "WhatsApp rejected this client version (neonize)")
    if status.startswith("passkey"):
        return ConnectionLoss("failed", PASSKEY_REASON, qr_loop_stays=True)
    return ConnectionLoss("qr_expired", f"linking failed ({status}); show a new QR")


def map_connection_drop(event: Any, keepalive_failures: int = 1) -> str | None:
    """Why the connection is down, for a drop whatsmeow recovers from by itself (it reconnects
    with its own back-off, which neonize cannot turn off); None if the event is not one."""
    if isinstance(event, DisconnectedEv):
        return "connection closed by WhatsApp; reconnecting"
    if isinstance(event, StreamErrorEv):
        return f"stream error {event.Code or 'unknown'} from WhatsApp"
    if isinstance(event, KeepAliveTimeoutEv) and event.ErrorCount >= max(keepalive_failures, 1):
        return f"{event.ErrorCount} keep-alives missed in a row"
    return None


def map_connection_loss(event: Any, now: float | None = None) -> ConnectionLoss | None:
    """What a neonize connection event means for the session, or None if it is not a loss
    whatsmeow leaves to us (drops it recovers from are ``map_connection_drop``'s).

    Logged out: forget the login. Banned: stop, keep the login for when the ban lifts. Replaced
    by another client: stop, reconnecting would only kick the other client off in turn. A
    connect failure whatsmeow does not retry: retry with Kabar's back-off.
    """
    now = time.time() if now is None else now
    if isinstance(event, LoggedOutEv):
        reason = (
            _LOGOUT_REASONS.get(event.Reason, "logged out")
            if event.HasField("Reason")
            else "logged out"
        )
        return ConnectionLoss("logged_out", reason, forget_credentials=True)
    if isinstance(event, TemporaryBanEv):
        reason = "temporarily banned by WhatsApp"
        if event.HasField("Code") and event.Code in _BAN_REASONS:
            reason = f"{reason}: {_BAN_REASONS[event.Code]}"
        expires_at = now + event.Expire if event.Expire > 0 else None
        return ConnectionLoss("banned", reason, expires_at=expires_at)
    if isinstance(event, ConnectFailureEv):
        return _connect_failure(event)
    if isinstance(event, StreamReplacedEv):
        return ConnectionLoss("disconnected", "replaced by another client")
    if isinstance(event, ClientOutdatedEv):
        return ConnectionLoss("failed", "WhatsApp rejected this client version (neonize)")
    return None


def _connect_failure(event: ConnectFailureEv) -> ConnectionLoss:
    reason_code = event.Reason if event.HasField("Reason") else ConnectFailureReason.GENERIC
    detail = f" ({event.Message})" if event.Message else ""
    if reason_code == ConnectFailureReason.TEMP_BANNED:
        return ConnectionLoss("banned", f"temporarily banned by WhatsApp{detail}")
    if reason_code in _LOGOUT_REASONS:
        return ConnectionLoss(
            "logged_out", _LOGOUT_REASONS[reason_code] + detail, forget_credentials=True
        )
    if reason_code in _FATAL_FAILURES:
        return ConnectionLoss("failed", _FATAL_FAILURES[reason_code] + detail)
    name = ConnectFailureReason.Name(reason_code).lower().replace("_", " ")
    return ConnectionLoss("disconnected", f"WhatsApp refused the connection: {name}{detail}", True)


# ---------------------------------------------------------------------------------------------
# The working copy of neonize's SQLite store
# ---------------------------------------------------------------------------------------------


SNAPSHOT_HELPER = Path(__file__).with_name("store_snapshot.py")
SNAPSHOT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of neonize's store: its bytes, the linked number, and the pid of the
    process that read the live file (never this one)."""

    blob: bytes
    phone: str | None
    pid: int


class SnapshotFailed(Exception):
    """The helper process could not copy the store."""


def snapshot_store(path: Path) -> Snapshot | None:
    """A consistent copy of neonize's live store, or None when it holds no linked device.

    The live file is read by a helper process with SQLite's backup API (whatsmeow may be
    writing it); its copy, a file of its own beside the live one, is read here and deleted.
    A store without a device is a pairing that never finished and is not worth keeping.
    """
    if not path.exists():
        return None
    copy = path.with_name(f".{path.name}.{secrets.token_hex(4)}.snapshot")
    try:
        done = subprocess.run(
            [sys.executable, "-I", str(SNAPSHOT_HELPER), str(path), str(copy)],
            capture_output=True,
            text=True,
            timeout=SNAPSHOT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SnapshotFailed(f"the store snapshot helper failed: {last}")
        found = json.loads(done.stdout)
        if not found.get("devices"):
            return None
        return Snapshot(copy.read_bytes(), phone_of_device(found.get("jid")), int(found["pid"]))
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise SnapshotFailed(f"could not copy the store: {exc}") from exc
    finally:
        remove_store_files(copy)


def phone_of_device(jid: str | None) -> str | None:
    """The number of whatsmeow's device JID ("628...:12@s.whatsapp.net" -> digits)."""
    if not jid:
        return None
    user = str(jid).split("@", 1)[0].split(":", 1)[0].split(".", 1)[0]
    return user if user.isdigit() else None


def is_working_file(name: str, stem: str) -> bool:
    """Whether ``name`` is a plaintext file of the session ``stem``: its working store, a
    journal, or a snapshot copy. The random part is matched exactly, so that session "a" never
    sweeps the files of "a-2"."""
    suffix = r"(-journal|-wal|-shm|\.[0-9a-f]{8}\.snapshot)?"
    pattern = rf"\.?{re.escape(stem)}-[0-9a-f]{{8}}\.sqlite{suffix}"
    return re.fullmatch(pattern, name) is not None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), replacing what was there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)


def remove_store_files(path: Path) -> None:
    """Delete an SQLite file and the journal files SQLite may have left beside it."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


# ---------------------------------------------------------------------------------------------
# The transport
# ---------------------------------------------------------------------------------------------


def _guarded(handler: Callable[..., None]) -> Callable[..., None]:
    """neonize calls handlers from Go; an exception there would only be printed by ctypes."""

    @functools.wraps(handler)
    def wrapper(*args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            log.exception("neonize event handler %s failed", handler.__name__)

    return wrapper


class NeonizeTransport(Transport):
    """A real linked WhatsApp number, through neonize.

    Options (all optional): ``workdir`` (directory for the plaintext working store; default
    KABAR_WORKING_STORE, under the instance dir), ``backoff_base``, ``backoff_cap``,
    ``max_attempts``, ``jitter``, ``keepalive_failures``, ``seal_interval``,
    ``seal_after_send``, ``stop_timeout``, ``reconnect_grace``,
    ``stop_grace``, ``device_name`` (see
    DEFAULT_OPTIONS) and ``client_factory`` (``(store_path, client_id) -> client``; tests use it
    to stand in for neonize's NewClient).
    """

    name = "neonize"

    def __init__(
        self,
        session_id: str,
        credentials: CredentialStore,
        emit: EventSink,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(session_id, credentials, emit, options)
        settings = {**DEFAULT_OPTIONS, **self.options}
        self.backoff_base = float(settings["backoff_base"])
        self.backoff_cap = float(settings["backoff_cap"])
        self.max_attempts = max(int(settings["max_attempts"]), 1)
        self.jitter = float(settings["jitter"])
        self.keepalive_failures = int(settings["keepalive_failures"])
        self.seal_interval = float(settings["seal_interval"])
        self.seal_after_send = float(settings["seal_after_send"])
        self.stop_timeout = float(settings["stop_timeout"])
        self.reconnect_grace = float(settings["reconnect_grace"])
        self.stop_grace = float(settings["stop_grace"])
        self.device_name = str(settings["device_name"])
        self.client_factory: Callable[[str, str], Any] = (
            settings.get("client_factory") or self._new_client
        )
        self._workdir_option = settings.get("workdir") or config.WORKING_STORE_DIR
        self._workdir: Path | None = None
        self._file_stem = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id) or "session"
        self._lock = threading.Lock()
        self._run: _Run | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the connection thread; a no-op while a started run is still going."""
        with self._lock:
            if self._run is not None and self._run.is_alive() and not self._run.stopping:
                return
            run = _Run(self, self._new_store_path())
            self._run = run
        run.start()

    def stop(self) -> None:
        """Disconnect, seal the store into the credential store and delete the working copy."""
        with self._lock:
            run = self._run
        if run is not None:
            run.shutdown(self.stop_timeout)

    def logout(self) -> None:
        """Unlink this device on WhatsApp (when connected), stop, and forget the credentials."""
        with self._lock:
            run = self._run
        if run is not None:
            run.forget()
            run.stop_event.set()  # the loop must not report the logout WhatsApp may echo back
            run.logout_client()
        self.stop()
        self.credentials.delete()
        self._emit("status", status="logged_out", reason="logged out from Kabar")

    # operations ------------------------------------------------------------------------------

    def send_text(self, jid: str, text: str, wa_message_id: str) -> SendResult:
        """Send ``text`` to ``jid`` ("6281234567890@s.whatsapp.net" or just the digits).

        neonize cannot send with a caller-chosen message id, so ``wa_message_id`` is ignored and
        the result carries the id WhatsApp assigned; receipts refer to that id. The text goes out
        as a plain ``conversation`` message: neonize's string path would turn "@digits" in the
        text into mentions and look up "@...@g.us" groups over the network.
        """
        to = to_jid(jid)
        return self._started_run().send(to, lambda _client: WAMessage(conversation=text))

    def send_media(self, jid: str, caption: str, media: Media, wa_message_id: str) -> SendResult:
        """Upload ``media`` and send it as an ImageMessage or a DocumentMessage with ``caption``.

        neonize is handed bytes only: given a string it fetches a URL without a time-out or
        opens a local path. Its builders get no caption (they would turn "@digits" into
        mentions and look "@...@g.us" groups up over the network); it is set on the built
        message instead. ``wa_message_id`` is ignored, as for ``send_text``.
        """
        to = to_jid(jid)
        return self._started_run().send(
            to, lambda client: build_media_message(client, caption, media)
        )

    def send_presence(self, jid: str, typing: bool) -> None:
        """Show "typing..." (composing) in the chat with ``jid``, or stop showing it."""
        to = to_jid(jid)
        state = ChatPresence.CHAT_PRESENCE_COMPOSING
        if not typing:
            state = ChatPresence.CHAT_PRESENCE_PAUSED
        media = ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
        self._started_run().ask("chat presence", lambda c: c.send_chat_presence(to, state, media))

    def on_whatsapp(self, phones: list[str]) -> dict[str, bool]:
        """Ask WhatsApp which of ``phones`` have an account (one request for all of them).

        whatsmeow wants numbers in international format with a leading "+".
        """
        asked = [digits for digits in (re.sub(r"\D", "", p) for p in phones) if digits]
        if not asked:
            return {}
        queries = ["+" + digits for digits in asked]
        answers = self._started_run().ask("check of numbers", lambda c: c.is_on_whatsapp(*queries))
        return map_on_whatsapp(answers, asked)

    def ping(self) -> None:
        """Ask the Go client whether its connection is up and logged in; raise NotConnected if not.

        whatsmeow proves the websocket with its own keep-alive round trips (missed ones end the
        connection, see ``keepalive_failures``); this reads the state they leave, which is cheap
        and sends nothing to WhatsApp. Called under the client lock and only while connected:
        asking a Go client that is being stopped could crash the process.
        """
        run = self._started_run()
        with run.client_lock:
            if not run.connected or run.stopping or run.client is None:
                raise NotConnected(f"neonize session {self.session_id} is not connected")
            if not run.client.is_connected:
                raise NotConnected("neonize reports the connection to WhatsApp closed")
            if not run.client.is_logged_in:
                raise NotConnected("neonize reports the device is no longer logged in")

    def pair_phone(self, phone: str) -> str:
        """Ask WhatsApp for a pairing code for ``phone`` (digits, with country code).

        Works while the session waits for a QR scan (the code is an alternative to scanning).
        The phone shows the request as "Chrome (Linux)": WhatsApp only accepts a browser/OS pair.
        """
        digits = re.sub(r"\D", "", phone)
        if not digits:
            raise TransportError(f"not a phone number: {phone!r}", code="bad_request")
        return self._started_run().pair(digits)

    # internals -------------------------------------------------------------------------------

    def _started_run(self) -> _Run:
        """The run that is going; NotConnected when the session is not started (or stopping)."""
        with self._lock:
            run = self._run
        if run is None or run.stopping or not run.is_alive():
            raise NotConnected(f"neonize session {self.session_id} is not started")
        return run

    def _emit(self, kind: str, **data: Any) -> None:
        try:
            self.emit(kind, **data)
        except Exception:
            log.exception("session %s: emitting %s failed", self.session_id, kind)

    def _new_client(self, store_path: str, client_id: str) -> NewClient:
        props = DeviceProps(os=self.device_name, platformType=DeviceProps.CHROME)
        return NewClient(store_path, props=props, uuid=client_id)

    def _new_store_path(self) -> Path:
        return self._ensure_workdir() / f"{self._file_stem}-{secrets.token_hex(4)}.sqlite"

    def _ensure_workdir(self) -> Path:
        """The private (0700) working directory, with this session's leftovers removed: the
        plaintext of a client that crashed must not outlive it."""
        if self._workdir is not None and self._workdir.is_dir():
            return self._workdir
        workdir = Path(self._workdir_option)
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if workdir.stat().st_mode & 0o077:
            os.chmod(workdir, 0o700)
        self._workdir = workdir
        for stale in workdir.iterdir():
            if is_working_file(stale.name, self._file_stem):
                log.info("removing a stale working store of session %s", self.session_id)
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
        return workdir


class _Run:
    """One start-to-stop life of a session: its thread, Go client and plaintext working file.

    The run's thread never waits inside neonize: ``connect()`` blocks on a thread of its own
    (neonize's handlers are called from there), and the run's thread watches what the handlers
    recorded. Handlers only record and wake it; every call into the Go client (above all
    ``stop()``) is made from the run's thread, once the Go side is past its QR loop.
    """

    def __init__(self, transport: NeonizeTransport, path: Path) -> None:
        self.t = transport
        self.path = path
        self.client_id = f"kabar-{path.stem}"
        self.client: Any = None
        self.stop_event = threading.Event()
        self.wake = threading.Event()  # a handler recorded something, or connect() returned
        # Held around every call into the Go client and the flags below, so a send never races
        # the Go client being stopped and a handler never acts on a connection already given up.
        self.client_lock = threading.RLock()
        self.files_lock = threading.Lock()
        self.connected = False
        self.in_connect = False
        self.loss: ConnectionLoss | None = None
        self.dropped_at: float | None = None  # monotonic time whatsmeow lost the connection
        self.phone: str | None = None  # the linked number, read from the store on connect
        self.connect_done = threading.Event()  # the latest connect() returned
        self.connect_done.set()
        self.abandoned = False  # a connect() that did not return after stop() was left behind
        self.failures = 0
        self.qr_shown = 0
        self.forgotten = False
        self.cleaned = False
        self.sealed_at = 0.0
        self.seals = 0  # how many times the store was sealed in this run
        self.seal_timer: threading.Timer | None = None  # the seal a send asked for
        self.thread = threading.Thread(
            target=self.main, name=f"neonize-{transport.session_id}", daemon=True
        )

    # thread ----------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> None:
        self.thread.start()

    def main(self) -> None:
        try:
            self.loop()
        except Exception:
            log.exception("session %s: neonize connection thread crashed", self.t.session_id)
            if not self.stopping:
                self.t._emit(
                    "status", status="failed", reason="internal error in neonize transport"
                )
        finally:
            self.cleanup()

    def loop(self) -> None:
        if not self.prepare_store():
            return
        self.client = self.t.client_factory(str(self.path), self.client_id)
        self.register(self.client)
        while True:
            with self.client_lock:
                if self.stopping:
                    return
                self.connected = False
                self.loss = None
                self.dropped_at = None
                self.qr_shown = 0
                self.in_connect = True
                self.client.me = None  # set by neonize once Go is past its QR loop
                attempt = self.failures + 1
            self.t._emit("status", status="connecting", attempt=attempt)
            error = self.connect_and_watch()
            with self.client_lock:
                self.in_connect = False
                self.connected = False
                loss = self.loss
            if self.stopping:
                return
            if loss is None:
                loss = ConnectionLoss("disconnected", error or "connection closed", retry=True)
            if not loss.retry:
                self.finish(loss)
                return
            self.failures += 1
            if self.failures >= self.t.max_attempts:
                log.warning(
                    "session %s: giving up after %d attempts: %s",
                    self.t.session_id,
                    self.failures,
                    loss.reason,
                )
                self.t._emit("status", status="failed", reason=loss.reason, attempt=self.failures)
                return
            delay = backoff_delay(
                self.failures, self.t.backoff_base, self.t.backoff_cap, self.t.jitter
            )
            log.info(
                "session %s: %s; retry %d in %.1f s",
                self.t.session_id,
                loss.reason,
                self.failures,
                delay,
            )
            self.t._emit(
                "status",
                status="disconnected",
                reason=loss.reason,
                attempt=self.failures,
                retry_in=round(delay, 3),
            )
            if self.stop_event.wait(delay):
                return

    def connect_and_watch(self) -> str | None:
        """Run ``connect()`` on its own thread until it returns or a loss ends it; the error
        a failed dial raised, if any.

        A loss (recorded by a handler) or whatsmeow failing to reconnect within
        ``reconnect_grace`` stops the Go client from here, never from a handler. A connect()
        that does not return after that (neonize's QR loop waits on a channel whatsmeow may
        never close) is left behind: its thread is a daemon and holds nothing Kabar uses.
        """
        outcome: dict[str, str] = {}
        done = self.connect_done = threading.Event()

        def connect() -> None:
            try:
                self.client.connect()
            except Exception as exc:  # neonize raises NeonizeError; anything else is as fatal
                outcome["error"] = str(exc) or type(exc).__name__
            finally:
                done.set()
                self.wake.set()

        threading.Thread(
            target=connect, name=f"neonize-connect-{self.t.session_id}", daemon=True
        ).start()
        while not done.is_set() and not self.stopping:
            self.wake.wait(1.0)
            self.wake.clear()
            if done.is_set() or self.stopping:
                break
            with self.client_lock:
                if self.loss is None and self.reconnect_overdue():
                    self.loss = ConnectionLoss(
                        "disconnected",
                        f"WhatsApp did not reconnect within {self.t.reconnect_grace:g} s",
                        retry=True,
                    )
                loss = self.loss
            if loss is not None:
                self.end_connect(done)
                break
        return outcome.get("error")

    def reconnect_overdue(self) -> bool:
        return (
            self.dropped_at is not None
            and time.monotonic() - self.dropped_at >= self.t.reconnect_grace
        )

    def end_connect(self, done: threading.Event) -> None:
        """Stop the Go client once it is past its QR loop (``client.me`` set), so that its
        ``FetchMe`` never meets a deleted client; then give connect() a while to return."""
        if self.loss is not None and self.loss.qr_loop_stays:
            # Go never leaves the QR loop, so it never reads the client back: safe to stop.
            self.stop_client()
            self.abandoned = True
            return
        deadline = time.monotonic() + self.t.stop_grace
        while getattr(self.client, "me", None) is None and not done.is_set():
            if time.monotonic() >= deadline:
                break
            done.wait(0.05)
        self.stop_client()
        if not done.wait(self.t.stop_timeout):
            self.abandoned = True
            log.warning(
                "session %s: neonize's connect() did not return after stop; leaving it behind",
                self.t.session_id,
            )

    def finish(self, loss: ConnectionLoss) -> None:
        """End the run for a loss that retrying cannot fix."""
        log.warning("session %s: %s (%s)", self.t.session_id, loss.status, loss.reason)
        if loss.forget_credentials:
            self.forget()
            self.t.credentials.delete()
        kind, data = loss.event()
        self.t._emit(kind, **data)

    # Go client -------------------------------------------------------------------------------

    def register(self, client: Any) -> None:
        client.event(ConnectedEv)(self.on_connected)
        client.event(PairStatusEv)(self.on_pair_status)
        client.event(ReceiptEv)(self.on_receipt)
        client.event(MessageEv)(self.on_message)
        client.event(KeepAliveRestoredEv)(self.on_keepalive_restored)
        for event_type in (
            LoggedOutEv,
            TemporaryBanEv,
            ConnectFailureEv,
            StreamReplacedEv,
            ClientOutdatedEv,
            DisconnectedEv,
            StreamErrorEv,
            KeepAliveTimeoutEv,
        ):
            client.event(event_type)(self.on_connection_event)
        client.event.qr(self.on_qr)
        # neonize passes the QR login's outcome ("success", "timeout", ...) to a private method
        # that only prints it; after "timeout" connect() would block forever on a dead socket.
        client._NewClient__onLoginStatus = self.on_login_status

    def stop_client(self) -> None:
        """Stop the Go client (ends a blocking connect()); harmless when it is not running.
        Never called from a neonize handler."""
        with self.client_lock:
            self.connected = False
            if self.client is not None:
                try:
                    self.client.stop()
                except Exception:
                    log.exception(
                        "session %s: stopping the neonize client failed", self.t.session_id
                    )

    def lose(self, loss: ConnectionLoss) -> None:
        """Record why the connection ended (the first reason wins) and wake the run's thread,
        which ends connect(): a handler must not call into the Go client."""
        with self.client_lock:
            if self.loss is None:
                self.loss = loss
            self.connected = False
        self.wake.set()

    def shutdown(self, timeout: float) -> None:
        """Stop the run: end connect() or the back-off wait, then clean up the working file."""
        self.stop_event.set()
        self.wake.set()
        deadline = time.monotonic() + timeout
        self.thread.join(timeout)
        # The run's thread has stopped watching; ending connect() is this caller's job now.
        # Repeated: connect() may not have reached the Go side yet. A QR login that just
        # ended is first let out of neonize's QR loop (see end_connect).
        if self.loss is not None:
            self.end_connect(self.connect_done)
        while not self.abandoned and not self.connect_done.is_set() and time.monotonic() < deadline:
            self.stop_client()
            self.connect_done.wait(0.2)
        self.stop_client()
        if self.thread.is_alive() or not self.connect_done.is_set():
            log.warning(
                "session %s: neonize did not stop within %.0f s; leaving its thread to end on "
                "its own",
                self.t.session_id,
                timeout,
            )
        self.cleanup()

    def logout_client(self) -> None:
        with self.client_lock:
            if not self.connected or self.client is None:
                return
            try:
                self.client.logout()
            except Exception as exc:
                log.warning("session %s: WhatsApp logout failed: %s", self.t.session_id, exc)

    def send(self, to: JID, build: Callable[[Any], WAMessage]) -> SendResult:
        """Send once the message ``build(client)`` makes (an upload, for media); whatsmeow's
        errors become what they mean (see ``map_send_error``). There is no resend to a LID:
        whatsmeow already looked the number's LID up in its store and on the server before
        answering "no LID found"."""
        with self.client_lock:
            if not self.connected or self.stopping:
                raise NotConnected(f"neonize session {self.t.session_id} is not connected")
            try:
                response = self.client.send_message(to, build(self.client))
            except Exception as exc:
                raise map_send_error(exc) from exc
        self.seal_soon()  # the send advanced the Signal session: keep it over a crash
        if not response.ID:
            raise SendFailed("WhatsApp returned no message id")
        return SendResult(
            wa_message_id=response.ID, sent_at=epoch_seconds(response.Timestamp) or time.time()
        )

    def ask(self, what: str, call: Callable[[Any], Any]) -> Any:
        """``call(client)`` on the connected Go client; its failures become TransportErrors."""
        with self.client_lock:
            if not self.connected or self.stopping:
                raise NotConnected(f"neonize session {self.t.session_id} is not connected")
            try:
                return call(self.client)
            except Exception as exc:
                raise TransportError(f"{what} failed: {exc or type(exc).__name__}") from exc

    def pair(self, phone: str) -> str:
        with self.client_lock:
            if self.connected:
                raise TransportError(
                    f"session {self.t.session_id} is already linked", code="already_paired"
                )
            if not self.in_connect or self.qr_shown == 0:
                raise NotConnected(
                    f"session {self.t.session_id} is not waiting for pairing yet; "
                    "ask again once it shows a QR code"
                )
            try:
                code = self.client.PairPhone(
                    phone, True, client_name=ClientName.LINUX, client_type=ClientType.CHROME
                )
            except Exception as exc:
                raise TransportError(
                    f"pairing code request failed: {exc}", code="pair_failed"
                ) from exc
        if not code:
            raise TransportError("WhatsApp returned no pairing code", code="pair_failed")
        return code

    # handlers (called by neonize from inside connect()) --------------------------------------

    @_guarded
    def on_qr(self, _client: Any, data: bytes) -> None:
        with self.client_lock:
            if self.stopping or self.loss is not None:
                return
            first = self.qr_shown == 0
            self.qr_shown += 1
        kind, payload = map_qr(data, time.time(), first)
        self.t._emit(kind, **payload)

    @_guarded
    def on_login_status(self, _client_id: Any, status: Any) -> None:
        if isinstance(status, int):
            status = ctypes.string_at(status)
        if isinstance(status, bytes):
            status = status.decode("utf-8", errors="replace")
        loss = map_login_status(str(status or ""))
        if loss is not None:
            log.info("session %s: QR login ended: %s", self.t.session_id, status)
            self.lose(loss)

    @_guarded
    def on_pair_status(self, _client: Any, event: PairStatusEv) -> None:
        mapped = map_pair_status(event)
        if mapped is None:
            log.warning("session %s: pairing failed: %s", self.t.session_id, event.Error)
            return
        self.seal()
        self.t._emit(mapped[0], **mapped[1])

    @_guarded
    def on_connected(self, _client: Any, _event: ConnectedEv) -> None:
        with self.client_lock:
            if self.stopping or self.loss is not None:
                return
            self.connected = True
            self.dropped_at = None
            self.failures = 0
        self.seal()
        log.info("session %s: connected", self.t.session_id)
        self.t._emit("status", status="connected", phone=self.phone)

    @_guarded
    def on_connection_event(self, _client: Any, event: Any) -> None:
        loss = map_connection_loss(event)
        if loss is not None:
            self.lose(loss)
            return
        reason = map_connection_drop(event, self.t.keepalive_failures)
        if reason is None:
            return
        with self.client_lock:
            if self.stopping or self.loss is not None:
                return
            self.connected = False
            if self.dropped_at is None:
                self.dropped_at = time.monotonic()
        log.info("session %s: %s", self.t.session_id, reason)
        self.t._emit("status", status="disconnected", reason=reason)
        self.wake.set()  # the run's thread starts timing whatsmeow's reconnect

    @_guarded
    def on_keepalive_restored(self, _client: Any, _event: KeepAliveRestoredEv) -> None:
        """Keep-alives answer again after missed ones: the connection never closed."""
        with self.client_lock:
            if self.stopping or self.loss is not None or self.dropped_at is None:
                return
            self.connected = True
            self.dropped_at = None
        self.t._emit("status", status="connected", phone=self.phone)

    @_guarded
    def on_receipt(self, _client: Any, event: ReceiptEv) -> None:
        for kind, data in map_receipt(event):
            self.t._emit(kind, **data)
        self.seal_if_due()

    @_guarded
    def on_message(self, _client: Any, event: MessageEv) -> None:
        mapped = map_message(event)
        if mapped is not None:
            self.t._emit(mapped[0], **mapped[1])
        self.seal_if_due()

    # the working store -----------------------------------------------------------------------

    def prepare_store(self) -> bool:
        """Decrypt the stored login into the working file (0600); False when it cannot be used."""
        try:
            blob = self.t.credentials.load()
            if blob is not None and not blob.startswith(SQLITE_HEADER):
                raise CredentialsUnreadable("the stored credentials are not a neonize store")
        except CredentialsUnreadable as exc:
            self.t._emit("status", status="failed", reason=str(exc))
            return False
        write_private(self.path, blob or b"")
        return True

    def forget(self) -> None:
        with self.files_lock:
            self.forgotten = True

    def seal(self) -> None:
        """Encrypt a snapshot of the working store into the CredentialStore, if it holds a
        linked device; the snapshot also tells which number is linked."""
        with self.files_lock:
            if self.forgotten or self.cleaned:
                return
            try:
                snapshot = snapshot_store(self.path)
            except SnapshotFailed as exc:
                log.warning(
                    "session %s: could not read the neonize store: %s", self.t.session_id, exc
                )
                return
            if snapshot is not None:
                self.t.credentials.save(snapshot.blob)
                self.sealed_at = time.monotonic()
                self.seals += 1
                self.phone = snapshot.phone or self.phone

    def seal_if_due(self) -> None:
        if time.monotonic() - self.sealed_at >= self.t.seal_interval:
            self.seal()

    def seal_soon(self) -> None:
        """Seal ``seal_after_send`` seconds from now, unless a seal is already due by then:
        a bulk of sends costs one seal per that many seconds, not one per message."""
        with self.files_lock:
            if self.seal_timer is not None or self.forgotten or self.cleaned:
                return
            timer = self.seal_timer = threading.Timer(self.t.seal_after_send, self._sealed_later)
            timer.daemon = True
            timer.name = f"neonize-seal-{self.t.session_id}"
        timer.start()

    def _sealed_later(self) -> None:
        with self.files_lock:
            self.seal_timer = None
        try:
            self.seal()
        except Exception:
            log.exception("session %s: sealing the store after a send failed", self.t.session_id)

    def cleanup(self) -> None:
        """Seal (unless logged out) and delete the plaintext working store; runs once."""
        with self.files_lock:
            timer, self.seal_timer = self.seal_timer, None
        if timer is not None:
            timer.cancel()
        self.seal()
        with self.files_lock:
            if self.cleaned:
                return
            self.cleaned = True
            remove_store_files(self.path)


__all__ = [
    "ConnectionLoss",
    "NeonizeTransport",
    "backoff_delay",
    "epoch_seconds",
    "map_connection_drop",
    "map_connection_loss",
    "map_login_status",
    "map_message",
    "map_on_whatsapp",
    "map_pair_status",
    "map_qr",
    "map_receipt",
    "map_send_error",
    "message_media",
    "message_text",
    "phone_of_device",
    "snapshot_store",
    "to_jid",
]
