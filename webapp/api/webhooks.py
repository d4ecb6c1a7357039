"""/api/whatsapp/webhooks: the operator's webhooks. The secret is shown once, at creation."""

from __future__ import annotations

from flask import jsonify
from marshmallow import EXCLUDE, Schema, fields, validate

from webapp.api import bp
from webapp.api.schemas import load_json
from webapp.models import Webhook, iso
from workers.pipeline import webhooks


class CreateWebhookSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    events = fields.List(
        fields.String(validate=validate.OneOf(webhooks.EVENTS)),
        load_default=lambda: list(webhooks.EVENTS),
        validate=validate.Length(min=1, error="choose at least one event"),
    )


def webhook_json(webhook: Webhook) -> dict:
    """A webhook as the API shows it: never its secret."""
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": webhook.events,
        "active": webhook.is_active,
        "createdAt": iso(webhook.created_at),
        "deliveries": webhook.delivery_count,
        "failures": webhook.failure_count,
        "lastDelivery": {
            "event": webhook.last_event,
            "statusCode": webhook.last_status_code,
            "error": webhook.last_error,
            "at": iso(webhook.last_attempt_at),
            "ok": 200 <= (webhook.last_status_code or 0) < 300,
        }
        if webhook.last_attempt_at
        else None,
        "lastSuccessAt": iso(webhook.last_success_at),
    }


@bp.get("/whatsapp/webhooks")
def list_webhooks():
    return jsonify(webhooks=[webhook_json(w) for w in webhooks.list_webhooks()])


@bp.post("/whatsapp/webhooks")
def create_webhook():
    body = load_json(CreateWebhookSchema())
    webhook, secret = webhooks.create_webhook(body["url"], body["events"])
    return jsonify(webhook=webhook_json(webhook), secret=secret), 201


@bp.get("/whatsapp/webhooks/<webhook_id>")
def get_webhook(webhook_id: str):
    return jsonify(webhook=webhook_json(webhooks.get_webhook(webhook_id)))


@bp.delete("/whatsapp/webhooks/<webhook_id>")
def delete_webhook(webhook_id: str):
    webhooks.delete_webhook(webhook_id)
    return jsonify(deleted=int(webhook_id))
