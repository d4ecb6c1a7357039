"""Names of every Redis key Kabar uses, in one place so processes cannot drift apart."""

from __future__ import annotations

PREFIX = "kabar"

# Hash session_id -> JSON {"transport": ...}: the sessions that should be running.
DESIRED_SESSIONS = f"{PREFIX}:sessions:desired"
# Pub/sub channel: the list above changed, session hosts should look now.
SESSIONS_CHANGED = f"{PREFIX}:sessions:changed"
# Stream of everything that happens to sessions (state, QR, receipts, incoming messages).
SESSION_EVENTS = f"{PREFIX}:session-events"
SESSION_EVENTS_GROUP = "folder"
# Set while a folder has been woken and has not started reading yet.
FOLD_PENDING = f"{PREFIX}:session-events:fold-pending"
# Set while a folder is due to look again after the database failed one.
FOLD_RETRY = f"{PREFIX}:session-events:fold-retry"
# Events that could not be folded, with the error, for an operator to inspect.
SESSION_EVENTS_DEAD = f"{PREFIX}:session-events:dead"
# Receipts whose message the folder did not know yet, by the time to try them again.
RECEIPTS_WAITING = f"{PREFIX}:session-events:receipts-waiting"


def lease(session_id: str) -> str:
    """A lease (a session held by a host, or a singleton role); its value is the holder."""
    return f"{PREFIX}:lease:{session_id}"


HOST_PREFIX = f"{PREFIX}:host:"


def host(host_id: str) -> str:
    """A session host's heartbeat: which sessions it holds. Renewed every second and gone a few
    seconds after the host (``config.HOST_HEARTBEAT_MS``): a lease whose holder has none is
    free, and callers do not wait for an answer from a host that has none."""
    return f"{HOST_PREFIX}{host_id}"


def rpc_requests(session_id: str) -> str:
    return f"{PREFIX}:rpc:session:{session_id}"


def rpc_seen(request_id: str) -> str:
    """Present until a served request's deadline: the same request is never served twice."""
    return f"{PREFIX}:rpc:seen:{request_id}"


def rpc_reply(request_id: str) -> str:
    return f"{PREFIX}:rpc:reply:{request_id}"


def sent_record(message_id: str) -> str:
    """What the session host sent for one Kabar message: the guard against double sends."""
    return f"{PREFIX}:sent:{message_id}"


def wa_message(wa_message_id: str) -> str:
    """WhatsApp message id -> Kabar message id, to attribute receipts."""
    return f"{PREFIX}:wa:{wa_message_id}"


def pace_queue(session_id: str) -> str:
    """Sorted set of tickets waiting for a send slot of the session, most urgent first."""
    return f"{PREFIX}:pace:{session_id}:queue"


def pace_beats(session_id: str) -> str:
    """Hash ticket -> last heartbeat (ms) of the thread waiting with it."""
    return f"{PREFIX}:pace:{session_id}:beats"


def pace_next(session_id: str) -> str:
    """When the session's next send slot opens (ms since the epoch, Redis clock)."""
    return f"{PREFIX}:pace:{session_id}:next"


def ready_queue(session_id: str) -> str:
    """Sorted set of the paced messages the session's host sends next, most urgent first."""
    return f"{PREFIX}:ready:{session_id}:queue"


def ready_entries(session_id: str) -> str:
    """Hash message id -> signed wire form of each message in the session's ready queue."""
    return f"{PREFIX}:ready:{session_id}:entries"


def ready_flight(session_id: str) -> str:
    """Hash message id -> entry of what the session's host took and whose outcome is not
    folded yet."""
    return f"{PREFIX}:ready:{session_id}:flight"


def ready_line(band: str) -> str:
    """When the line of the band's messages waiting for room in ready queues ends (ms)."""
    return f"{PREFIX}:ready:line:{band}"


# Hash message id -> session id of the ready queue it waits in (see workers.queue.ready).
READY_WHERE = f"{PREFIX}:ready:where"
# Pub/sub channel: messages were added to these sessions' ready queues (signed JSON).
READY_WAKE = f"{PREFIX}:ready:wake"


def error_backoff(session_id: str) -> str:
    """Present while the session rests after a send error; expires when it may send again."""
    return f"{PREFIX}:backoff:{session_id}"


def error_streak(session_id: str) -> str:
    """Consecutive send errors of the session."""
    return f"{PREFIX}:errors:{session_id}"


def daily_count(session_id: str, day: str) -> str:
    """Messages the session sent on ``day`` (YYYYMMDD in the operator's timezone)."""
    return f"{PREFIX}:daily:{session_id}:{day}"


def api_rate(key_id: int) -> str:
    """Token bucket of one API key."""
    return f"{PREFIX}:ratelimit:{key_id}"


def login_failures(subject: str) -> str:
    """Failed admin logins of one e-mail or one address in the current window."""
    return f"{PREFIX}:login-failures:{subject}"


def on_whatsapp(phone: str) -> str:
    """Whether ``phone`` is on WhatsApp ("1" or "0"), as a linked number last answered; expires
    after the setting ``on_whatsapp_cache_days``."""
    return f"{PREFIX}:on-whatsapp:{phone}"


# Dramatiq's own keys (its Redis broker's layout), read by the reconciler, never written.
def dramatiq_messages(namespace: str, queue: str) -> str:
    """Hash of every message of ``queue`` Dramatiq holds (queued or taken), by Redis message id."""
    return f"{namespace}:{queue}.msgs"


def dramatiq_taken_pattern(namespace: str) -> str:
    """Sets of Redis message ids each worker has fetched and not yet acknowledged."""
    return f"{namespace}:__acks__.*"


def media_blob(sha256: str) -> str:
    """The bytes of a media file on their way to a session host's client (kept in PostgreSQL;
    here only for a while, see ``workers.queue.media``)."""
    return f"{PREFIX}:media:{sha256}"
