"""Dramatiq actors. Run with ``dramatiq workers.pipeline.actors --queues ...``
(see honcho.Procfile).

Actors are thin: each builds the app context once per process and calls a service.
"""

from __future__ import annotations

import logging
import os
import threading

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage, Retries

import webapp.config as config
from webapp.core import database

# The app's modules are imported here, in the main thread, before any worker thread runs:
# importing them lazily from several threads at once raced on half-initialised modules.
from webapp.intake import bulk
from workers.pipeline import fold as folding
from workers.pipeline import sending, sessions
from workers.queue import broker as _broker
from workers.queue import jobs, session_events
from workers.queue.contracts import SEND_ACTORS, Actor, Band
from workers.queue.ledger import GAVE_BACK, JobLedger

log = logging.getLogger(__name__)

_broker.broker.add_middleware(CurrentMessage())

_app = None
_app_lock = threading.Lock()


def app():
    """The Flask app of this worker process, built on first use."""
    global _app
    with _app_lock:
        if _app is None:
            from webapp import create_app

            _app = create_app()
        return _app


# Before Retries in the list, so that its after-hook runs after Retries' (Dramatiq calls them in
# reverse order) and sees whether Retries has just failed the message for good.
_broker.broker.add_middleware(JobLedger(app), before=Retries)

SEND_MAX_RETRIES = 2  # three attempts in all, as the seed's maxAttempts


def _send(message_ids: int | list[int]) -> None:
    """Send one stored message, or a batch of bulk ones (see ``workers.pipeline.sending``).

    What cannot be sent yet for want of a slot (or during quiet hours) goes back to the queue
    without spending an attempt; what no number could send makes Dramatiq retry the job, and
    the retry sends only the rows still queued.
    """

    current = CurrentMessage.get_current_message()
    retries = current.options.get("retries", 0) if current else 0
    ids = message_ids if isinstance(message_ids, list) else [message_ids]
    with app().app_context():
        outcome = sending.deliver_batch(ids, current.message_id if current else None)
        if outcome.unknown:
            sending.record_retry(outcome.unknown, retries, sending.OUTCOME_UNKNOWN)
        if outcome.unsent:
            sending.record_retry(outcome.unsent, retries, outcome.reason)
        if outcome.unsent or outcome.unknown:
            if outcome.later:  # they wait in a job of their own, not in this one's retries
                jobs.give_back(outcome.later, max(outcome.later_ms, 100))
            raise dramatiq.Retry(outcome.reason if outcome.unsent else sending.OUTCOME_UNKNOWN)
    if outcome.later:
        # Waiting is not an attempt: back to the queue, retries untouched.
        later = outcome.later if isinstance(message_ids, list) else message_ids
        _broker.broker.enqueue(current.copy(args=(later,)), delay=max(outcome.later_ms, 100))
        current.options[GAVE_BACK] = True
    log.info(
        "messages %s: %d sent (%d already), %d skipped, %d later",
        message_ids,
        outcome.sent,
        outcome.duplicate,
        outcome.skipped,
        len(outcome.later),
    )


_SEND_OPTIONS = dict(
    max_retries=SEND_MAX_RETRIES,
    min_backoff=2_000,
    max_backoff=16_000,
    on_retry_exhausted=Actor.SEND_EXHAUSTED,
)
send_urgent = dramatiq.actor(
    _send,
    actor_name=SEND_ACTORS[Band.URGENT],
    queue_name=Band.URGENT,
    priority=0,
    **_SEND_OPTIONS,
)
send_normal = dramatiq.actor(
    _send,
    actor_name=SEND_ACTORS[Band.NORMAL],
    queue_name=Band.NORMAL,
    priority=10,
    **_SEND_OPTIONS,
)
send_bulk = dramatiq.actor(
    _send,
    actor_name=SEND_ACTORS[Band.BULK],
    queue_name=Band.BULK,
    priority=100,
    **_SEND_OPTIONS,
)


@dramatiq.actor(actor_name=Actor.SEND_EXHAUSTED, queue_name=Band.URGENT, max_retries=5)
def send_message_exhausted(message_data: dict, retry_info: dict) -> None:
    """Every attempt to send failed: the row becomes ``failed`` with the last reason."""

    message_ids = message_data["args"][0]
    with app().app_context():
        attempts = retry_info.get("retries", 0) + 1
        sending.mark_failed(message_ids, attempts, message_data.get("message_id"))


@dramatiq.actor(actor_name=Actor.RECONCILE_MESSAGES, queue_name=Band.MAINTENANCE, max_retries=0)
def reconcile_messages() -> None:
    """Queue again the queued rows whose job Redis lost."""

    with app().app_context():
        jobs.reconcile()


_events_redis: redis.Redis | None = None


@dramatiq.actor(actor_name=Actor.FOLD_SESSION_EVENTS, queue_name=Band.EVENTS, max_retries=3)
def fold_session_events() -> None:
    """Fold whatever is waiting on the session-event stream into PostgreSQL.

    While the database is down nothing is set aside: the events stay unacknowledged in the
    stream's group (parked receipts go back to wait) and a later folder claims them again.
    """

    global _events_redis
    _events_redis = _events_redis or redis.Redis.from_url(config.REDIS_URL)
    client = _events_redis
    consumer = f"{os.getpid()}-{threading.get_ident()}"
    session_events.begin_fold(client)
    with app().app_context():
        try:
            if waiting := session_events.due_receipts(client):
                _fold(client, [(None, event) for event in waiting])
            while batch := session_events.read_batch(client, consumer):
                _fold(client, batch)
        except database.DatabaseDown:
            log.warning("the database is down; session events wait in the stream until it is back")
            session_events.fold_later(client, consumer)


def _fold(client: redis.Redis, batch: list[tuple[str | None, dict]]) -> None:
    """Fold a batch in a few transactions; when that fails with the database up, event by
    event, setting aside only an event that fails twice with the database up, so it neither
    blocks the stream nor is lost. Receipts of messages not known yet are parked to be tried
    again; the entries folded or set aside are acknowledged, and no others: when the database
    goes down mid-way, ``DatabaseDown`` leaves the rest to a later folder."""
    unknown: list[dict] = []
    folded = 0
    try:
        try:
            unknown = folding.apply_all([event for _, event in batch])
            folded = len(batch)
        except Exception as exc:
            _unless_database_down(exc)
            log.warning("a batch of %d session events failed; folding one by one", len(batch))
            for entry_id, event in batch:
                unknown += _fold_one(client, entry_id, event)
                folded += 1
    finally:
        if unknown and (dropped := session_events.park_receipts(client, unknown)):
            log.info("%d receipts of messages Kabar does not know were dropped", dropped)
        session_events.ack(client, [entry_id for entry_id, _ in batch[:folded] if entry_id])
        if parked := [event for entry_id, event in batch[folded:] if entry_id is None]:
            session_events.return_receipts(client, parked)


def _fold_one(client: redis.Redis, entry_id: str | None, event: dict) -> list[dict]:
    error: Exception | None = None
    for _ in range(2):  # a connection cut under the first try leaves a fresh one for the second
        try:
            return folding.apply(event)
        except Exception as exc:
            _unless_database_down(exc)
            error = exc
    # Not the error's text: it may quote the event (a QR code, a customer's words), which stays
    # with its full error in the dead letters, for the operator only.
    log.error(
        "could not fold session event %s (%s): %s; set aside on the queue page",
        entry_id,
        event.get("kind"),
        _error_kind(error),
    )
    session_events.dead_letter(client, entry_id, event, repr(error))
    return []


def _error_kind(error: Exception | None) -> str:
    """``error``'s class, and the database's own for a database error (no values)."""
    cause = getattr(error, "orig", None)
    name = type(error).__name__
    return f"{name} ({type(cause).__name__})" if cause is not None else name


def _unless_database_down(exc: Exception) -> None:
    """Roll back; raise ``DatabaseDown`` if the database does not answer now (whatever ``exc``
    is, an event is never set aside for an outage)."""
    if not database.is_up():
        raise database.DatabaseDown() from exc


@dramatiq.actor(actor_name=Actor.SYNC_SESSIONS, queue_name=Band.MAINTENANCE, max_retries=0)
def sync_sessions() -> None:
    """Rebuild the session hosts' list of sessions from PostgreSQL (heals a lost Redis)."""

    with app().app_context():
        sessions.sync_desired()


# Operations: e-mail fallback, webhooks, retention ---------------------------------------------


@dramatiq.actor(
    actor_name=Actor.SEND_EMAIL_FALLBACK,
    queue_name=Band.MAINTENANCE,
    max_retries=5,
    min_backoff=10_000,
    max_backoff=600_000,
)
def send_email_fallback(message_id: int) -> None:
    """E-mail a message that failed on WhatsApp (see ``workers.pipeline.fallback``)."""
    from workers.pipeline import fallback

    with app().app_context():
        try:
            outcome = fallback.send_fallback(message_id)
        except fallback.FallbackFailed as exc:
            raise dramatiq.Retry(exc.message) from exc
    log.info("e-mail fallback of message %s: %s", message_id, outcome)


@dramatiq.actor(
    actor_name=Actor.DELIVER_WEBHOOK,
    queue_name=Band.MAINTENANCE,
    max_retries=config.WEBHOOK_MAX_RETRIES,
    min_backoff=1_000,
    max_backoff=600_000,
)
def deliver_webhook(webhook_id: int, event: str, delivery_id: str, body: str) -> None:
    """POST one signed event to one webhook (see ``workers.pipeline.webhooks``)."""
    from workers.pipeline import webhooks

    with app().app_context():
        try:
            outcome = webhooks.deliver(webhook_id, event, delivery_id, body)
        except webhooks.DeliveryFailed as exc:
            raise dramatiq.Retry(exc.message) from exc
    log.info("webhook %s delivery %s (%s): %s", webhook_id, delivery_id, event, outcome)


@dramatiq.actor(actor_name=Actor.RELAY_OUTBOX, queue_name=Band.MAINTENANCE, max_retries=0)
def relay_outbox() -> None:
    """Queue the outbox rows Redis missed at their commit (see ``workers.queue.outbox``)."""
    from workers.queue import outbox

    with app().app_context():
        relayed = outbox.relay()
    if relayed:
        log.info("relayed %d outbox entries", relayed)


@dramatiq.actor(actor_name=Actor.PURGE_OLD_DATA, queue_name=Band.MAINTENANCE, max_retries=0)
def purge_old_data() -> None:
    """Daily retention: delete old messages, finished queue jobs and long-dead sessions."""
    from workers.pipeline import retention

    with app().app_context():
        retention.purge()


@dramatiq.actor(actor_name=Actor.ROLLUP_METRICS, queue_name=Band.MAINTENANCE, max_retries=0)
def rollup_metrics() -> None:
    """Keep today's and yesterday's figures in metrics_daily (see ``workers.pipeline.metrics``)."""
    from workers.pipeline import metrics

    with app().app_context():
        metrics.rollup()


# Bulk sends -------------------------------------------------------------------------------------


@dramatiq.actor(
    actor_name=Actor.EXPAND_BULK,
    queue_name=Band.MAINTENANCE,
    max_retries=5,
    min_backoff=1_000,
    max_backoff=60_000,
)
def expand_bulk(bulk_id: int) -> None:
    """Write and queue the messages of a bulk send (see ``webapp.intake.bulk.expand``)."""
    with app().app_context():
        written = bulk.expand(bulk_id)
    log.info("bulk send %s: %d messages written", bulk_id, written)


@dramatiq.actor(actor_name=Actor.BULK_MAINTENANCE, queue_name=Band.MAINTENANCE, max_retries=0)
def bulk_maintenance() -> None:
    """Start scheduled bulk sends that are due, re-queue lost expansions, mark finished ones."""
    with app().app_context():
        bulk.maintain()
