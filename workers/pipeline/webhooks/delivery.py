"""Delivery: one signed POST of an event's body, its result recorded on the webhook; the
``deliver_webhook`` actor retries what may succeed later (``DeliveryFailed``)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.error
import urllib.request
from typing import Any

import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.core.errors import KabarError
from webapp.extensions import db
from webapp.models import Webhook, utcnow
from workers.pipeline import outbound

log = logging.getLogger(__name__)


SIGNATURE_HEADER = "X-Kabar-Signature"
_RETRY_STATUSES = {408, 429}


class DeliveryFailed(KabarError):
    """A delivery that may succeed later (network error, 5xx, 408, 429): Dramatiq retries it."""

    status = 502
    code = "webhook_delivery_failed"


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
