"""/api/whatsapp/send and message status."""

from __future__ import annotations

from flask import jsonify, url_for

from webapp.api import bp
from webapp.api.schemas import SendSchema, load_json
from webapp.intake import messages
from webapp.models import WhatsAppMessage, iso
from workers.queue import jobs
from workers.queue.contracts import Band


def status_json(message: WhatsAppMessage) -> dict:
    return {
        "id": message.id,
        "status": message.status,
        "to": message.to_number,
        "sentAt": iso(message.sent_at),
        "deliveredAt": iso(message.delivered_at),
        "readAt": iso(message.read_at),
        "sessionId": message.session_id,
        "error": message.error_message,
        "retryCount": message.retry_count,
        "priority": message.priority,
        "band": message.band,
        # Why a queued message may not go out yet (daily_cap, warmup, quiet_hours, no_number)
        # and the earliest time it may.
        "heldReason": message.held_reason,
        "heldUntil": iso(message.held_until),
        "renderMode": message.render_mode,
        "media": (
            {
                "type": message.media_type,
                "url": message.media_url,
                "sha256": message.media_sha256,
                "fileName": message.media_file_name,
            }
            if message.media_type
            else None
        ),
    }


@bp.post("/whatsapp/send")
def send():
    body = load_json(SendSchema())
    accepted = messages.queue_message(
        body["to"],
        template=body.get("template", body.get("templateId")),
        template_field="templateId" if "templateId" in body else "template",
        data=body.get("data"),
        text=body.get("text"),
        idempotency_key=body.get("idempotencyKey"),
        priority=body.get("priority", 1),
        band=Band.NORMAL if "priority" in body else Band.URGENT,
        routing=body.get("routing"),
        session_id=body.get("sessionId"),
        email=body.get("email"),
        media=body.get("media"),
    )
    message = accepted.message
    return (
        jsonify(
            id=message.id,
            status=message.status,
            to=message.to_number,
            duplicate=not accepted.created,
            statusUrl=url_for("api.message_status", message_id=message.id),
        ),
        202 if accepted.created else 200,
    )


@bp.get("/whatsapp/message/<message_id>/status")
def message_status(message_id: str):
    return jsonify(status_json(messages.get_message(message_id)))


@bp.post("/whatsapp/message/<message_id>/resend")
def message_resend(message_id: str):
    """Queue a failed message again (409 unless it is failed)."""
    message = messages.get_message(message_id)
    jobs.resend(message)
    return jsonify(status_json(message)), 202


@bp.post("/whatsapp/message/<message_id>/cancel")
def message_cancel(message_id: str):
    """Stop a queued message from being sent (409 unless it is queued)."""
    message = messages.get_message(message_id)
    jobs.cancel(message)
    return jsonify(status_json(message))
