"""/api/whatsapp/simulator: what the simulated phones received, and which have WhatsApp."""

from __future__ import annotations

from flask import current_app, jsonify

from webapp.api import bp
from webapp.api.schemas import OnWhatsAppSchema, load_json
from webapp.core import phone
from webapp.redis_client import get_redis
from workers.session_host.simulated_network import SimulatedNetwork


@bp.get("/whatsapp/simulator/inbox/<number>")
def simulator_inbox(number: str):
    recipient = phone.normalize(number, current_app.config["DEFAULT_REGION"], field="phone")
    messages = SimulatedNetwork(get_redis()).inbox(recipient.phone)
    return jsonify(phone=recipient.phone, messages=messages)


@bp.post("/whatsapp/simulator/on-whatsapp")
def simulator_on_whatsapp():
    """Say which simulated phones have no WhatsApp (``onWhatsApp`` false, the default) or have
    it again; every simulator session's check of numbers answers accordingly."""
    body = load_json(OnWhatsAppSchema())
    region = current_app.config["DEFAULT_REGION"]
    numbers = [
        phone.normalize(number, region, field=f"phones.{n}").phone
        for n, number in enumerate(body["phones"])
    ]
    SimulatedNetwork(get_redis()).mark_on_whatsapp(numbers, body["onWhatsApp"])
    return jsonify(phones=numbers, onWhatsApp=body["onWhatsApp"])
