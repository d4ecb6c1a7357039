"""The interface between the session host and one WhatsApp connection.

A transport owns one linked number. It connects on its own thread, reports what happens through
``emit(kind, **data)`` and sends when asked. It never touches the database or the queues: the
session host turns its events into the session-event stream.

Event kinds a transport emits:

- ``status``  ``status`` (a ``SessionState`` of ``workers.queue.contracts``), optional
  ``reason``, ``attempt``, ``retry_in``;
  ``qr_expired`` is a QR or pairing-code login that ended without a scan: the transport waits
  for the operator to ask for a new QR (a restart of the session)
- ``qr``      ``code`` (the string to render), ``expires_at`` (epoch seconds)
- ``paired``  ``phone`` (E.164 digits of the linked number)
- ``receipt`` ``wa_message_id``, ``status`` (``delivered`` | ``read``), ``at`` (epoch seconds)
- ``message`` ``from_phone``, ``text``, ``wa_message_id``, ``at`` (an incoming message), optional
  ``from_jid``, ``push_name`` and ``media_type`` (``image``, ``video``, ``document``, ``audio``,
  ``sticker``: the message carried media, ``text`` is then its caption, maybe "")
- ``contacts`` ``contacts``: a list of ``{"phone", "push_name"?, "lid"?}`` (address-book sync,
  typically after connecting; optional, a transport may never send it)

The session host adds ``health`` events of its own (see ``workers.session_host.host``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from webapp.core.credentials import CredentialStore
from workers.queue.contracts import EventKind, RpcCode, SessionState

if TYPE_CHECKING:
    from webapp.core.media_types import Media

EventSink = Callable[..., None]

# Since mid-2026 WhatsApp asks some accounts for a passkey when a device is linked; neonize 0.5.2
# cannot answer it, so such a login ends ``failed`` with this reason.
PASSKEY_REASON = (
    "this WhatsApp account asks for a passkey, which linking from Kabar cannot answer yet; "
    "try the pairing code or another number"
)
# Why a login ends ``qr_expired``: WhatsApp stopped showing codes (about 160 s), or a pairing
# code was not typed in time.
QR_EXPIRED_REASON = "the QR code was not scanned in time; show a new QR"
PAIR_CODE_EXPIRED_REASON = "the pairing code was not typed in time; show a new QR"


class TransportError(Exception):
    """A transport could not do what it was asked; ``code`` names the reason for callers."""

    code = RpcCode.TRANSPORT_ERROR

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class NotConnected(TransportError):
    code = RpcCode.NOT_CONNECTED


class SendFailed(TransportError):
    code = RpcCode.SEND_FAILED


class Unsupported(TransportError):
    code = RpcCode.UNSUPPORTED


class RecipientRefused(SendFailed):
    """WhatsApp refused the send because of the recipient, not the number: sending it through
    another number, or resting this one, would not help."""

    code = RpcCode.RECIPIENT_REFUSED


class NotOnWhatsApp(RecipientRefused):
    """The recipient has no WhatsApp account (whatsmeow: "no LID found")."""

    code = RpcCode.NOT_ON_WHATSAPP


class ReachOutLimited(RecipientRefused):
    """WhatsApp's limit on starting chats with new contacts (server error 463): this number
    may not write to this cold contact for now; the message waits."""

    code = RpcCode.REACH_OUT_LIMITED


class ReachOutRefused(RecipientRefused):
    """WhatsApp refused a first message to a cold contact (server error 479)."""

    code = RpcCode.REACH_OUT_REFUSED


class SendUncertain(TransportError):
    """The send went out but its answer never came (a time-out, a socket closed before the
    answer): the message may have reached the recipient, so it must not be sent again by
    itself."""

    code = RpcCode.SEND_UNCERTAIN
    # The session host keeps the message's send claim: no retry anywhere sends it again.
    outcome_unknown = True


@dataclass(frozen=True)
class SendResult:
    wa_message_id: str
    sent_at: float


class Transport(ABC):
    """One WhatsApp number, driven by the session host.

    Parameters:
      session_id: Kabar's id of the session (``whatsapp_sessions.session_id``).
      credentials: where the transport keeps its login, encrypted at rest.
      emit: called as ``emit(kind, **data)`` for every event (see module docstring); it must be
        cheap and thread-safe, transports call it from their own threads.
      options: transport-specific settings.
    """

    name: ClassVar[str]

    def __init__(
        self,
        session_id: str,
        credentials: CredentialStore,
        emit: EventSink,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.session_id = session_id
        self.credentials = credentials
        self.emit = emit
        self.options = dict(options or {})

    @abstractmethod
    def start(self) -> None:
        """Begin connecting (resuming a stored login or asking for a QR); return at once."""

    @abstractmethod
    def stop(self) -> None:
        """Close the connection and keep the credentials, so a later start resumes."""

    @abstractmethod
    def send_text(self, jid: str, text: str, wa_message_id: str) -> SendResult:
        """Send ``text`` to ``jid``. ``wa_message_id`` is the id Kabar derived for the message;
        transports that can choose their id use it, others return the id WhatsApp gave."""

    def send_media(self, jid: str, caption: str, media: Media, wa_message_id: str) -> SendResult:
        """Send ``media`` (an image or a document, bytes in hand: a transport never fetches a
        URL) with ``caption`` to ``jid``; ``wa_message_id`` as for ``send_text``."""
        raise Unsupported(f"{self.name} cannot send images or documents")

    def logout(self) -> None:
        """Unlink the device and forget the credentials."""
        self.stop()
        self.credentials.delete()
        self.emit(EventKind.STATUS, status=SessionState.LOGGED_OUT, reason="logged out from Kabar")

    def ping(self) -> None:
        """Prove the connection works with a cheap round trip; raise a TransportError if not.

        The session host's health check calls it every few seconds on connected sessions and
        measures how long it takes. A transport that cannot prove anything keeps this default,
        which raises Unsupported, and is then left out of health checks.
        """
        raise Unsupported(f"{self.name} cannot be health-checked")

    def pair_phone(self, phone: str) -> str:
        """Ask for a pairing code for ``phone`` (the alternative to scanning a QR)."""
        raise Unsupported(f"{self.name} does not support pairing codes")

    def send_presence(self, jid: str, typing: bool) -> None:  # noqa: B027 - optional, no-op
        """Show ``jid`` that this number is typing (``typing``) or has stopped.

        Cosmetic, like a person typing before a message: a transport that cannot show it keeps
        this default, which does nothing.
        """

    def on_whatsapp(self, phones: list[str]) -> dict[str, bool]:
        """Which of ``phones`` (E.164 digits) have WhatsApp: ``{phone: bool}``.

        A number missing from the answer is unknown. A transport that cannot ask keeps this
        default, which raises Unsupported; callers then send without checking.
        """
        raise Unsupported(f"{self.name} cannot check numbers on WhatsApp")

    def simulate(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Simulator-only controls (scan, faults); a real transport refuses them."""
        raise Unsupported(f"{self.name} sessions cannot be driven by the simulator")
