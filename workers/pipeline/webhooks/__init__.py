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

The package: ``subscriptions`` (the events and who subscribes), ``registry`` (the operator's
list), ``events`` (what is told, queued after the commit) and ``delivery`` (the signed POST).
"""

from __future__ import annotations

from workers.pipeline.webhooks.delivery import DeliveryFailed, deliver, sign
from workers.pipeline.webhooks.events import incoming, message_status
from workers.pipeline.webhooks.registry import (
    create_webhook,
    delete_webhook,
    get_webhook,
    list_webhooks,
    refused_address,
)
from workers.pipeline.webhooks.subscriptions import (
    EVENTS,
    MESSAGE_INCOMING,
    MESSAGE_STATUS,
    forget_subscriptions,
    subscribers,
)

__all__ = [
    "EVENTS",
    "MESSAGE_INCOMING",
    "MESSAGE_STATUS",
    "DeliveryFailed",
    "create_webhook",
    "delete_webhook",
    "deliver",
    "forget_subscriptions",
    "get_webhook",
    "incoming",
    "list_webhooks",
    "message_status",
    "refused_address",
    "sign",
    "subscribers",
]
