"""The names the processes agree on: statuses, bands, actor names, RPC methods and codes.

The web, the workers and the session host exchange these as strings (database columns, Dramatiq
messages, RPC requests over Redis). Each is declared here once, as a ``StrEnum`` (``Name``):
its members are those very strings (``MessageStatus.QUEUED == "queued"``, and their ``repr``
too), so they compare with database values, go into SQL filters and JSON as they are, and no
value changes on the wire. This module imports nothing of Kabar's, so any layer, transports
included, may import it.
"""

from __future__ import annotations

from enum import StrEnum


class Name(StrEnum):
    """A name on the wire. Its ``repr`` is the string's own, so that log lines and messages that
    show a value with ``%r`` read exactly as they did when the value was a bare string."""

    def __repr__(self) -> str:
        return str.__repr__(self.value)


class MessageStatus(Name):
    """Where a WhatsApp message row stands (``whatsapp_messages.status``)."""

    QUEUED = "queued"  # waiting for its send (held by a limit or quiet hours, or about to go)
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    CANCELLED = "cancelled"  # an operator or a cancelled bulk took it back before it went
    PAUSED = "paused"  # its bulk job is paused
    SKIPPED = "skipped"  # never sent: opted out, or a trigger that was not to send


# Every message status, in the order the admin console lists them.
MESSAGE_STATUSES = tuple(MessageStatus)
# Statuses no worker moves a message out of by itself (receipts still move SENT and DELIVERED
# forward; an operator may still resend a failed one).
FINAL_MESSAGE_STATUSES = frozenset(
    {MessageStatus.READ, MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.SKIPPED}
)
# A message that went out, whatever its receipts say since.
WENT_OUT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


class BulkStatus(Name):
    """Where a bulk job stands (``bulk_jobs.status``)."""

    SCHEDULED = "scheduled"  # waits for its start time
    PENDING = "pending"  # waits for a worker to expand it
    EXPANDING = "expanding"  # its recipients are being turned into messages
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


BULK_STATUSES = tuple(BulkStatus)


class EventStatus(Name):
    """What a billing event sent to a trigger became (``trigger_events.status``)."""

    QUEUED = "queued"
    SKIPPED = "skipped"
    FAILED = "failed"


class JobStatus(Name):
    """A send job's ledger row (``whatsapp_queue_jobs.status``)."""

    PENDING = "pending"
    STARTED = "started"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"


class SessionState(Name):
    """What a linked number's connection is doing (``whatsapp_sessions.status``, and the
    ``status`` events a transport emits)."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    QR = "qr"
    QR_EXPIRED = "qr_expired"
    CONNECTED = "connected"
    LOGGED_OUT = "logged_out"
    BANNED = "banned"
    FAILED = "failed"


SESSION_STATES = tuple(SessionState)


class MediaType(Name):
    """What kind of media a message carries."""

    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
    STICKER = "sticker"


# What an incoming ``message`` event's ``media_type`` may be.
MEDIA_TYPES = tuple(MediaType)
# What Kabar sends as an attachment.
SENDABLE_MEDIA_TYPES = (MediaType.IMAGE, MediaType.DOCUMENT)


class TemplateCategory(Name):
    """What a template is for (``whatsapp_templates.category``): opt-outs and quiet hours hold
    messages by it."""

    NOTIFICATION = "notification"
    REMINDER = "reminder"
    PROMOTION = "promotion"


TEMPLATE_CATEGORIES = tuple(TemplateCategory)


class Band(Name):
    """Dramatiq queues. A send's band is its queue; worker-urgent consumes URGENT alone so an
    urgent send always finds a thread."""

    URGENT = "urgent"
    NORMAL = "normal"
    BULK = "bulk"
    EVENTS = "events"
    MAINTENANCE = "maintenance"


# The bands a message may be sent in (``whatsapp_messages.band``).
BANDS = (Band.URGENT, Band.NORMAL, Band.BULK)
QUEUES = tuple(Band)


class Actor(Name):
    """Dramatiq actor names: a job names its actor by this string, so a job enqueued by one
    process (the web, the outbox) runs in another (a worker)."""

    SEND_URGENT = "send_urgent"
    SEND_NORMAL = "send_normal"
    SEND_BULK = "send_bulk"
    SEND_EXHAUSTED = "send_message_exhausted"
    RECONCILE_MESSAGES = "reconcile_messages"
    FOLD_SESSION_EVENTS = "fold_session_events"
    SYNC_SESSIONS = "sync_sessions"
    SEND_EMAIL_FALLBACK = "send_email_fallback"
    DELIVER_WEBHOOK = "deliver_webhook"
    RELAY_OUTBOX = "relay_outbox"
    PURGE_OLD_DATA = "purge_old_data"
    ROLLUP_METRICS = "rollup_metrics"
    EXPAND_BULK = "expand_bulk"
    BULK_MAINTENANCE = "bulk_maintenance"


# One send actor per band: Dramatiq orders a worker's prefetched messages by actor priority.
SEND_ACTORS = {
    Band.URGENT: Actor.SEND_URGENT,
    Band.NORMAL: Actor.SEND_NORMAL,
    Band.BULK: Actor.SEND_BULK,
}


class RpcMethod(Name):
    """What a caller may ask the session host holding a session (``workers.session_host``)."""

    SEND = "send"
    SEND_BATCH = "send_batch"
    STATUS = "status"
    SIMULATE = "simulate"
    PAIR = "pair"
    CHECK_NUMBERS = "check_numbers"
    LOGOUT = "logout"
    RECONNECT = "reconnect"


class RpcCode(Name):
    """Machine-readable codes of RPC errors and per-message send results."""

    # The call did not reach a host able to act on it, or its answer did not come back.
    NOT_HOSTED = "not_hosted"
    TIMEOUT = "timeout"
    HOST_GONE = "host_gone"
    CHANNEL_KEY_MISMATCH = "channel_key_mismatch"
    INTERNAL = "internal"
    BAD_REQUEST = "bad_request"
    # What the session's client or transport answered.
    CLIENT_CRASHED = "client_crashed"
    TRANSPORT_ERROR = "transport_error"
    NOT_CONNECTED = "not_connected"
    SEND_FAILED = "send_failed"
    UNSUPPORTED = "unsupported"
    SEND_UNCERTAIN = "send_uncertain"
    RECIPIENT_REFUSED = "recipient_refused"
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    REACH_OUT_LIMITED = "reach_out_limited"
    REACH_OUT_REFUSED = "reach_out_refused"
    MEDIA_REJECTED = "media_rejected"
    MEDIA_MISSING = "media_missing"
    # Per message of a batch: another call is sending it; no time was left for it.
    SEND_IN_PROGRESS = "send_in_progress"
    LATER = "later"


class SendState(Name):
    """A message's send as the session host reports it: each result of a batch (``sent`` or
    ``error``), and the claim and record it keeps in Redis (``sending``, then ``sent``)."""

    SENDING = "sending"
    SENT = "sent"
    ERROR = "error"


class ClientMethod(Name):
    """What the session host calls on a transport in the session's client process
    (``workers.session_host.wire``); each but ``start`` and ``stop`` is a ``Transport`` method."""

    START = "start"
    STOP = "stop"
    SEND_TEXT = "send_text"
    SEND_MEDIA = "send_media"
    PING = "ping"
    PAIR_PHONE = "pair_phone"
    SEND_PRESENCE = "send_presence"
    ON_WHATSAPP = "on_whatsapp"
    SIMULATE = "simulate"
    LOGOUT = "logout"


class EventKind(Name):
    """The kinds of session events: what a transport emits (``workers.session_host.transports
    .base``), plus the session host's own ``health``, as the stream carries them to the fold."""

    STATUS = "status"
    QR = "qr"
    PAIRED = "paired"
    RECEIPT = "receipt"
    MESSAGE = "message"
    CONTACTS = "contacts"
    HEALTH = "health"
    SEND_RESULT = "send_result"  # the session host's outcomes of sends from its ready queues
