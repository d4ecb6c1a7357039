"""Outbound webhooks: operators' URLs told of message status changes and incoming messages.

Where a message changes status or a customer writes, the code calls ``message_status`` or
``incoming`` before its commit. That costs nothing when no webhook subscribes to the event (the
list of subscriptions is cached per process for ``WEBHOOK_CACHE_S``); otherwise the JSON body is
built then, and one delivery job per subscribed webhook goes into the outbox
(``workers.queue.outbox``), queued once the change commits. A rollback drops them, so no one
is told of a change that did not happen, and Redis being down at the commit delays them only.

Each delivery POSTs the body, signed with the webhook's secret in ``X-Kabar-Signature:
sha256=<hex HMAC-SHA256 of the raw body>``. Network errors, 5xx, 408 and 429 are retried by
Dramatiq with exponential back-off (the body, and so the signature, stay the same); any other
answer is final. Each attempt's result is kept on the webhook row. The connection goes only to
an address vetted as the name was resolved for it (``workers.pipeline.outbound``); when there
is none, the delivery is refused for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.core.errors import KabarError, NotFound
from webapp.extensions import db
from webapp.models import STATUS_RANK, Webhook, WhatsAppMessage, iso, row_id, utcnow
from workers.pipeline import outbound
from workers.queue import broker, outbox

log = logging.getLogger(__name__)

MESSAGE_STATUS = "message.status"
MESSAGE_INCOMING = "message.incoming"
EVENTS = (MESSAGE_STATUS, MESSAGE_INCOMING)
DELIVER_ACTOR = "deliver_webhook"
SIGNATURE_HEADER = "X-Kabar-Signature"
_RETRY_STATUSES = {408, 429}


class DeliveryFailed(KabarError):
    """A delivery that may succeed later (network error, 5xx, 408, 429): Dramatiq retries it."""

    status = 502
    code = "webhook_delivery_failed"


# the operator's list --------------------------------------------------------------------------


def create_webhook(url: str, events: list[str] | None = None) -> tuple[Webhook, str]:
    """Store a webhook for ``url``; return it and its secret, which is never shown again."""
    url = _checked_url(url)
    chosen = list(dict.fromkeys(events or EVENTS))
    unknown = [name for name in chosen if name not in EVENTS]
    if unknown:
        raise KabarError(
            f"unknown event {unknown[0]!r}; choose from {', '.join(EVENTS)}", field="events"
        )
    secret = secrets.token_hex(32)
    webhook = Webhook(url=url, events=chosen, secret=secret, is_active=True)
    db.session.add(webhook)
    db.session.commit()
    forget_subscriptions()
    return webhook, secret


def list_webhooks() -> list[Webhook]:
    return list(db.session.scalars(sa.select(Webhook).order_by(Webhook.id)))


def get_webhook(webhook_id: int | str) -> Webhook:
    number = row_id(webhook_id)
    webhook = db.session.get(Webhook, number) if number is not None else None
    if webhook is None:
        raise NotFound(f"no webhook with id {webhook_id}", field="id")
    return webhook


def delete_webhook(webhook_id: int | str) -> None:
    """Remove the webhook; deliveries still queued for it are dropped when their turn comes."""
    db.session.delete(get_webhook(webhook_id))
    db.session.commit()
    forget_subscriptions()


def _checked_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KabarError("give an http:// or https:// URL with a host", field="url")
    if len(url) > 2000:
        raise KabarError("the URL is longer than 2000 characters", field="url")
    try:
        settings.check_host(parts.hostname)
    except ValueError as exc:
        raise KabarError(str(exc), field="url") from None
    if why := refused_address(parts.hostname):
        raise KabarError(f"Kabar does not post to {why}", field="url")
    return url


def refused_address(host: str) -> str | None:
    """Why Kabar will not post to ``host``, or None when it may: the policy of
    ``workers.pipeline.outbound`` (never a cloud metadata, link-local or reserved address;
    loopback, LAN and carrier-grade NAT only while the setting ``webhook_allow_private`` is on,
    off by default). Each delivery judges the addresses again as it connects."""
    return outbound.refused_host(host, settings.get("webhook_allow_private"))


# subscriptions, cached per process ------------------------------------------------------------


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


# events -------------------------------------------------------------------------------------


def message_status(message_id: int, status: str) -> None:
    """Tell subscribers, once the current transaction commits, that a message is ``status``."""
    targets = subscribers(MESSAGE_STATUS)
    if not targets:
        return
    # Read in the caller's transaction, so the change about to be committed is in it.
    message = db.session.get(WhatsAppMessage, message_id)
    if message is None or STATUS_RANK.get(message.status, 0) > STATUS_RANK.get(status, 0):
        return  # e.g. "sent" after a receipt already made it "delivered": nothing new to tell
    data = {
        "id": message.id,
        "status": status,
        "to": message.to_number,
        "sessionId": message.session_id,
        "waMessageId": message.message_id,
        "sentAt": iso(message.sent_at),
        "deliveredAt": iso(message.delivered_at),
        "readAt": iso(message.read_at),
        "error": message.error_message if status in ("failed", "skipped") else None,
        "band": message.band,
    }
    _queue_after_commit(MESSAGE_STATUS, data, targets)


def incoming(data: dict[str, Any]) -> None:
    """Tell subscribers, once the current transaction commits, that a customer wrote."""
    targets = subscribers(MESSAGE_INCOMING)
    if targets:
        _queue_after_commit(MESSAGE_INCOMING, data, targets)


def _queue_after_commit(event: str, data: dict[str, Any], targets: list[int]) -> None:
    delivery_id = str(uuid.uuid4())
    body = json.dumps(
        {"event": event, "deliveryId": delivery_id, "occurredAt": iso(utcnow()), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    for webhook_id in targets:
        outbox.add(DELIVER_ACTOR, broker.MAINTENANCE, webhook_id, event, delivery_id, body)


# delivery -----------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The value of X-Kabar-Signature for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(webhook_id: int, event: str, delivery_id: str, body: str) -> str:
    """POST one signed delivery and record the result on the webhook.

    Returns "delivered", "gone" (webhook deleted or disabled) or "rejected" (a final answer
    such as 404); raises DeliveryFailed when a later attempt may succeed.
    """
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None or not webhook.is_active:
        return "gone"
    url, raw = webhook.url, body.encode()
    request = urllib.request.Request(
        url,
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Kabar-Webhook/1",
            "X-Kabar-Event": event,
            "X-Kabar-Delivery": delivery_id,
            SIGNATURE_HEADER: sign(webhook.secret, raw),
        },
    )
    opener = outbound.opener(settings.get("webhook_allow_private"))
    db.session.rollback()  # hold no connection while the receiver takes its time
    status: int | None = None
    error: str | None = None
    try:
        with opener.open(request, timeout=current_app.config["WEBHOOK_TIMEOUT_S"]) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        error = f"HTTP {exc.code}"
    except ValueError as exc:  # a URL stored before its host was checked (IDNA and the like)
        return _refused(webhook_id, event, delivery_id, f"{url} cannot be used ({exc})")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)  # urllib wraps the socket's error
        if isinstance(reason, outbound.AddressRefused):
            return _refused(webhook_id, event, delivery_id, str(reason))
        error = f"{type(reason).__name__}: {reason}"[:500]
    ok = status is not None and 200 <= status < 300
    _record(webhook_id, event, status, error, ok)
    if ok:
        return "delivered"
    if status is None or status >= 500 or status in _RETRY_STATUSES:
        raise DeliveryFailed(f"webhook {webhook_id}: {error}")
    log.warning("webhook %s refused delivery %s: %s", webhook_id, delivery_id, error)
    return "rejected"


def _refused(webhook_id: int, event: str, delivery_id: str, why: str) -> str:
    """An address or URL Kabar will not post to (the name resolves elsewhere now than when the
    webhook was made, the setting changed, or the URL is malformed): a final refusal, kept on
    the webhook for the operator to see."""
    _record(webhook_id, event, None, f"not posted: {why}"[:500], ok=False)
    log.warning("webhook %s: not posting delivery %s to %s", webhook_id, delivery_id, why)
    return "rejected"


def _record(webhook_id: int, event: str, status: int | None, error: str | None, ok: bool):
    W = Webhook
    now = utcnow()
    values: dict[str, Any] = {
        "last_event": event,
        "last_status_code": status,
        "last_error": error,
        "last_attempt_at": now,
    }
    if ok:
        values.update(delivery_count=W.delivery_count + 1, last_success_at=now)
    else:
        values.update(failure_count=W.failure_count + 1)
    db.session.execute(sa.update(W).where(W.id == webhook_id).values(**values))
    db.session.commit()
