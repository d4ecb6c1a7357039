"""Events told to subscribers: the JSON body is built in the caller's transaction and one delivery
job per subscribed webhook goes into the outbox, queued once the change commits."""

from __future__ import annotations

import json
import uuid
from typing import Any

from webapp.extensions import db
from webapp.models import STATUS_RANK, WhatsAppMessage, iso, utcnow
from workers.pipeline.webhooks.subscriptions import MESSAGE_INCOMING, MESSAGE_STATUS, subscribers
from workers.queue import outbox
from workers.queue.contracts import Actor, Band, MessageStatus


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
        "error": message.error_message
        if status in (MessageStatus.FAILED, MessageStatus.SKIPPED)
        else None,
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
        outbox.add(Actor.DELIVER_WEBHOOK, Band.MAINTENANCE, webhook_id, event, delivery_id, body)
