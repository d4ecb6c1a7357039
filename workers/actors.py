"""Dramatiq actors. Run with ``dramatiq workers.actors --queues ...`` (see honcho.Procfile).

Actors are thin: each builds the app context once per process and calls a service.
"""

from __future__ import annotations

import logging
import os
import threading

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage

from workers import broker as _broker
from workers import session_events, settings

log = logging.getLogger(__name__)

_broker.broker.add_middleware(CurrentMessage())
for _queue in (_broker.URGENT, _broker.NORMAL, _broker.BULK, _broker.EVENTS, _broker.MAINTENANCE):
    _broker.broker.declare_queue(_queue)

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


SEND_MAX_RETRIES = 2  # three attempts in all, as the seed's maxAttempts


@dramatiq.actor(
    actor_name="send_message",
    queue_name=_broker.URGENT,
    max_retries=SEND_MAX_RETRIES,
    min_backoff=2_000,
    max_backoff=16_000,
    on_retry_exhausted="send_message_exhausted",
)
def send_message(message_id: int) -> None:
    """Send one stored message (see ``webapp.services.sending.deliver``)."""
    from webapp.services import sending
    from webapp.services.errors import NoSessionAvailable

    current = CurrentMessage.get_current_message()
    retries = current.options.get("retries", 0) if current else 0
    with app().app_context():
        try:
            outcome = sending.deliver(message_id)
        except NoSessionAvailable as exc:
            sending.record_retry(message_id, retries, exc.message)
            raise dramatiq.Retry(exc.message) from exc
    log.info("message %s: %s", message_id, outcome)


@dramatiq.actor(actor_name="send_message_exhausted", queue_name=_broker.URGENT, max_retries=5)
def send_message_exhausted(message_data: dict, retry_info: dict) -> None:
    """Every attempt to send failed: the row becomes ``failed`` with the last reason."""
    from webapp.services import sending

    message_id = message_data["args"][0]
    with app().app_context():
        sending.mark_failed(message_id, retry_info.get("retries", 0) + 1)


_events_redis: redis.Redis | None = None


@dramatiq.actor(actor_name=session_events.FOLD_ACTOR, queue_name=_broker.EVENTS, max_retries=3)
def fold_session_events() -> None:
    """Fold whatever is waiting on the session-event stream into PostgreSQL."""
    from webapp.extensions import db
    from webapp.services import session_events as folding

    global _events_redis
    _events_redis = _events_redis or redis.Redis.from_url(settings.REDIS_URL)
    consumer = f"{os.getpid()}-{threading.get_ident()}"
    with app().app_context():
        while batch := session_events.read_batch(_events_redis, consumer):
            for entry_id, event in batch:
                try:
                    folding.apply(event)
                except Exception as exc:
                    # One bad event must not block the stream behind it.
                    log.exception("could not fold session event %s: %s", entry_id, event)
                    db.session.rollback()
                    session_events.dead_letter(_events_redis, entry_id, event, repr(exc))
                else:
                    session_events.ack(_events_redis, [entry_id])


@dramatiq.actor(actor_name="sync_sessions", queue_name=_broker.MAINTENANCE, max_retries=0)
def sync_sessions() -> None:
    """Rebuild the session hosts' list of sessions from PostgreSQL (heals a lost Redis)."""
    from webapp.services import sessions

    with app().app_context():
        sessions.sync_desired()
