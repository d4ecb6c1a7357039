"""The events a webhook may subscribe to, and which webhooks do: read from the database at most
every ``WEBHOOK_CACHE_S``, cached per process (an event nobody subscribes to costs nothing)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Webhook

MESSAGE_STATUS = "message.status"
MESSAGE_INCOMING = "message.incoming"
EVENTS = (MESSAGE_STATUS, MESSAGE_INCOMING)


@dataclass
class _Subscriptions:
    lock: threading.Lock = field(default_factory=threading.Lock)
    expires: float = 0.0
    by_event: dict[str, list[int]] = field(default_factory=dict)


def _subscriptions() -> _Subscriptions:
    return current_app.extensions.setdefault("kabar.webhook_subscriptions", _Subscriptions())


def subscribers(event: str) -> list[int]:
    """Ids of the active webhooks subscribed to ``event``, read at most every WEBHOOK_CACHE_S."""
    cache = _subscriptions()
    with cache.lock:
        if time.monotonic() >= cache.expires:
            by_event: dict[str, list[int]] = {name: [] for name in EVENTS}
            rows = db.session.execute(
                sa.select(Webhook.id, Webhook.events).where(Webhook.is_active.is_(True))
            )
            for webhook_id, events in rows:
                for name in events or ():
                    by_event.setdefault(name, []).append(webhook_id)
            cache.by_event = by_event
            cache.expires = time.monotonic() + current_app.config["WEBHOOK_CACHE_S"]
        return list(cache.by_event.get(event, ()))


def forget_subscriptions() -> None:
    """Read the subscriptions again on the next event (this process only)."""
    _subscriptions().expires = 0.0
