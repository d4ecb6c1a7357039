"""/api/whatsapp/simulator: what the simulated phones received."""

from __future__ import annotations

from flask import current_app, jsonify

from webapp.api import bp
from webapp.redis_client import get_redis
from webapp.services import phone
from workers.transports.simulator import SimulatedNetwork


@bp.get("/whatsapp/simulator/inbox/<number>")
def simulator_inbox(number: str):
    recipient = phone.normalize(number, current_app.config["DEFAULT_REGION"], field="phone")
    messages = SimulatedNetwork(get_redis()).inbox(recipient.phone)
    return jsonify(phone=recipient.phone, messages=messages)
