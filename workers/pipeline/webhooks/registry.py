"""The operator's list of webhooks: created (with a secret shown once), listed, deleted; a URL is
refused when Kabar would never post to its host."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import sqlalchemy as sa

from webapp import settings
from webapp.core.errors import KabarError, NotFound
from webapp.extensions import db
from webapp.models import Webhook, row_id
from workers.pipeline import outbound
from workers.pipeline.webhooks.subscriptions import EVENTS, forget_subscriptions


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
