"""Pure functions of the neonize transport: the mapping of neonize's protobuf events, answers
and errors to Kabar's events, kept apart so that they can be tested with real protobuf messages
and no client."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from neonize.events import (
    ClientOutdatedEv,
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
from neonize.proto.Neonize_pb2 import JID, ConnectFailureReason, PairStatus, Receipt, TemporaryBan
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.jid import Jid2String, build_jid

from webapp.core.media_types import Media
from workers.queue.contracts import EventKind, MediaType, MessageStatus, RpcCode, SessionState
from workers.session_host.transports.base import (
    PASSKEY_REASON,
    QR_EXPIRED_REASON,
    NotConnected,
    NotOnWhatsApp,
    ReachOutLimited,
    ReachOutRefused,
    SendFailed,
    SendUncertain,
    TransportError,
)

USER_SERVER = "s.whatsapp.net"

# whatsmeow shows six QR codes per connection: the first for 60 s, the others for 20 s each.
QR_FIRST_TTL_S = 60.0
QR_NEXT_TTL_S = 20.0

Event = tuple[str, dict[str, Any]]


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

    status: SessionState
    reason: str
    retry: bool = False
    forget_credentials: bool = False
    expires_at: float | None = None
    qr_loop_stays: bool = False

    def event(self) -> Event:
        data: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at
        return EventKind.STATUS, data


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
    Receipt.DELIVERED: MessageStatus.DELIVERED,
    Receipt.READ: MessageStatus.READ,
    Receipt.PLAYED: MessageStatus.READ,  # a played voice note or video has been seen
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
        (EventKind.RECEIPT, {"wa_message_id": message_id, "status": status, "at": at})
        for message_id in event.MessageIDs
        if message_id
    ]


# Media messages a customer may send, by the field of neonize's Message that holds them.
_MEDIA_FIELDS = (
    ("imageMessage", MediaType.IMAGE),
    ("videoMessage", MediaType.VIDEO),
    ("documentMessage", MediaType.DOCUMENT),
    ("audioMessage", MediaType.AUDIO),
    ("stickerMessage", MediaType.STICKER),
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
    return EventKind.MESSAGE, data


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
    if media.type == MediaType.IMAGE:
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
        raise SendFailed(f"not a WhatsApp address: {address!r}", code=RpcCode.BAD_REQUEST)
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
    return EventKind.QR, {"code": code, "expires_at": now + ttl}


def map_pair_status(event: PairStatusEv) -> Event | None:
    """``paired`` with the linked number when pairing succeeded; None for a pairing error."""
    if event.Status != PairStatus.SUCCESS:
        return None
    phone = phone_of(event.ID) or re.sub(r"\D", "", event.ID.User) or None
    if phone is None:
        return None
    return EventKind.PAIRED, {"phone": phone}


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
        return ConnectionLoss(SessionState.QR_EXPIRED, QR_EXPIRED_REASON)
    if status == "err-client-outdated":
        return ConnectionLoss(
            SessionState.FAILED, "WhatsApp rejected this client version (neonize)"
        )
    if status.startswith("passkey"):
        return ConnectionLoss(SessionState.FAILED, PASSKEY_REASON, qr_loop_stays=True)
    return ConnectionLoss(SessionState.QR_EXPIRED, f"linking failed ({status}); show a new QR")


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
        return ConnectionLoss(SessionState.LOGGED_OUT, reason, forget_credentials=True)
    if isinstance(event, TemporaryBanEv):
        reason = "temporarily banned by WhatsApp"
        if event.HasField("Code") and event.Code in _BAN_REASONS:
            reason = f"{reason}: {_BAN_REASONS[event.Code]}"
        expires_at = now + event.Expire if event.Expire > 0 else None
        return ConnectionLoss(SessionState.BANNED, reason, expires_at=expires_at)
    if isinstance(event, ConnectFailureEv):
        return _connect_failure(event)
    if isinstance(event, StreamReplacedEv):
        return ConnectionLoss(SessionState.DISCONNECTED, "replaced by another client")
    if isinstance(event, ClientOutdatedEv):
        return ConnectionLoss(
            SessionState.FAILED, "WhatsApp rejected this client version (neonize)"
        )
    return None


def _connect_failure(event: ConnectFailureEv) -> ConnectionLoss:
    reason_code = event.Reason if event.HasField("Reason") else ConnectFailureReason.GENERIC
    detail = f" ({event.Message})" if event.Message else ""
    if reason_code == ConnectFailureReason.TEMP_BANNED:
        return ConnectionLoss(SessionState.BANNED, f"temporarily banned by WhatsApp{detail}")
    if reason_code in _LOGOUT_REASONS:
        return ConnectionLoss(
            SessionState.LOGGED_OUT, _LOGOUT_REASONS[reason_code] + detail, forget_credentials=True
        )
    if reason_code in _FATAL_FAILURES:
        return ConnectionLoss(SessionState.FAILED, _FATAL_FAILURES[reason_code] + detail)
    name = ConnectFailureReason.Name(reason_code).lower().replace("_", " ")
    return ConnectionLoss(
        SessionState.DISCONNECTED, f"WhatsApp refused the connection: {name}{detail}", True
    )
